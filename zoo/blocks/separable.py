"""Depthwise-separable convolutions: the MobileNet (BN between) and Xception (fused) forms."""

from __future__ import annotations

from keras import layers

from zoo.blocks.conv_bn_act import BN_EPSILON, activation, conv_bn_act, depthwise_bn_act
from zoo.common import channel_axis


def depthwise_separable(x, filters, *, strides=1, dilation=1, depth_multiplier=1, act="relu6", name):
    """MobileNet's unit: 3x3 depthwise -> BN -> act -> 1x1 pointwise -> BN -> act.

    Two BN+activation pairs (the paper's Figure 3, right); sub-layers are ``{name}_dw_*``
    and ``{name}_pw_*``.
    """
    x = depthwise_bn_act(x, 3, strides=strides, dilation=dilation, depth_multiplier=depth_multiplier,
                         act=act, name=f"{name}_dw")
    return conv_bn_act(x, filters, 1, act=act, name=f"{name}_pw")


def separable_conv_bn(x, filters, *, act_first=True, act="relu", name):
    """Xception's unit: [act ->] SeparableConv2D -> BN.

    Xception puts the activation before the separable conv and no BN/activation between
    depthwise and pointwise (Section 4.7 of the paper found that worse), so keras'
    fused ``SeparableConv2D`` is used; this matches ``keras.applications.Xception`` layer for layer.
    """
    if act_first:
        x = activation(x, act, f"{name}_{act}")
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_sepconv")(x)
    return layers.BatchNormalization(axis=channel_axis(), epsilon=BN_EPSILON, name=f"{name}_bn")(x)
