"""The CIFAR ResNet basic block and its parameter-free "option A" shortcut."""

from __future__ import annotations

from keras import layers

from zoo.blocks.conv_bn_act import conv_bn_act
from zoo.common import channel_axis
from zoo.layers import ShortcutA


def basic_block(x, filters, *, strides=1, name):
    """3x3 conv -> BN -> ReLU -> 3x3 conv -> BN, plus the option-A shortcut, then ReLU."""
    in_channels = x.shape[channel_axis()]
    y = conv_bn_act(x, filters, 3, strides=strides, act="relu", name=f"{name}_conv1")
    y = conv_bn_act(y, filters, 3, act=None, name=f"{name}_conv2")
    shortcut = x
    if strides != 1 or in_channels != filters:
        shortcut = ShortcutA(filters, strides, name=f"{name}_shortcut")(x)
    x = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_relu")(x)
