"""MobileNetV2's inverted residual with linear bottleneck."""

from __future__ import annotations

from keras import layers

from zoo.blocks.conv_bn_act import conv_bn_act, depthwise_bn_act
from zoo.common import channel_axis


def inverted_residual(x, filters, *, expansion, strides=1, dilation=1, act="relu6", name):
    """1x1 expand (skipped when ``expansion == 1``) -> 3x3 depthwise -> linear 1x1 project [+ input].

    The expansion is relative to the INPUT channels, as in the paper's Table 1 and the
    keras/torchvision references. The projection has no activation (the "linear
    bottleneck": ReLU on the narrow representation destroys information, Section 3.2);
    the identity shortcut is added only when stride is 1 and the channel count is unchanged.
    """
    in_channels = x.shape[channel_axis()]
    y = x
    if expansion != 1:
        y = conv_bn_act(y, int(in_channels * expansion), 1, act=act, name=f"{name}_expand")
    y = depthwise_bn_act(y, 3, strides=strides, dilation=dilation, act=act, name=f"{name}_dw")
    y = conv_bn_act(y, filters, 1, act=None, name=f"{name}_project")
    if strides == 1 and in_channels == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y
