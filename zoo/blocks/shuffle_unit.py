"""ShuffleNet units: v1 (grouped 1x1 -> shuffle -> depthwise -> grouped 1x1) and v2 (channel split)."""

from __future__ import annotations

from keras import layers

from zoo.blocks.conv_bn_act import conv_bn_act, depthwise_bn_act
from zoo.common import channel_axis
from zoo.layers import ChannelShuffle, ChannelSlice


def shufflenet_v1_unit(x, out_channels, *, strides, groups, group_first=True, shuffle=True, name):
    """The ShuffleNet v1 unit (paper Figure 2b/2c), bottleneck width ``out_channels // 4``.

    Stride 1: residual add (input width must equal ``out_channels``). Stride 2: the branch
    makes ``out_channels - in`` channels and is concatenated with a 3x3/2 average-pooled
    shortcut. ``group_first=False`` keeps the first 1x1 dense (stage 2's first unit, whose
    input is too narrow to split); the shuffle only follows a grouped first 1x1. No ReLU after
    the depthwise conv (Section 3.2); ReLU after the add/concat.
    """
    in_channels = x.shape[channel_axis()]
    branch_out = out_channels - in_channels if strides == 2 else out_channels
    first_groups = groups if group_first else 1
    y = conv_bn_act(x, out_channels // 4, 1, groups=first_groups, name=f"{name}_pw1")
    if shuffle and first_groups > 1:
        y = ChannelShuffle(groups, name=f"{name}_shuffle")(y)
    y = depthwise_bn_act(y, 3, strides=strides, act=None, name=f"{name}_dw")
    y = conv_bn_act(y, branch_out, 1, groups=groups, act=None, name=f"{name}_pw2")
    if strides == 2:
        shortcut = layers.AveragePooling2D(3, 2, padding="same", name=f"{name}_shortcut_pool")(x)
        y = layers.Concatenate(axis=channel_axis(), name=f"{name}_concat")([shortcut, y])
    else:
        y = layers.Add(name=f"{name}_add")([x, y])
    return layers.ReLU(name=f"{name}_out_relu")(y)


def _v2_branch(x, channels, strides, name):
    """1x1 -> BN -> ReLU -> 3x3 depthwise (stride) -> BN -> 1x1 -> BN -> ReLU."""
    x = conv_bn_act(x, channels, 1, name=f"{name}_pw1")
    x = depthwise_bn_act(x, 3, strides=strides, act=None, name=f"{name}_dw")
    return conv_bn_act(x, channels, 1, name=f"{name}_pw2")


def shufflenet_v2_unit(x, out_channels, *, strides, name):
    """The ShuffleNet v2 unit (paper Figure 3c/3d), as torchvision's ``InvertedResidual``.

    Stride 1: split the channels in halves, keep the first, transform the second, concat.
    Stride 2: no split; a depthwise 3x3/2 -> 1x1 branch replaces the identity half. Then
    ChannelShuffle(2) so the halves mix in the next unit.
    """
    half = out_channels // 2
    axis = channel_axis()
    if strides == 1:
        left = ChannelSlice(0, half, name=f"{name}_split_left")(x)
        right = ChannelSlice(half, 2 * half, name=f"{name}_split_right")(x)
        right = _v2_branch(right, half, 1, f"{name}_branch2")
    else:
        left = depthwise_bn_act(x, 3, strides=strides, act=None, name=f"{name}_branch1_dw")
        left = conv_bn_act(left, half, 1, name=f"{name}_branch1_pw")
        right = _v2_branch(x, half, strides, f"{name}_branch2")
    y = layers.Concatenate(axis=axis, name=f"{name}_concat")([left, right])
    return ChannelShuffle(2, name=f"{name}_shuffle")(y)
