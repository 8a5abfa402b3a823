"""conv -> BatchNorm -> activation: the atom every family uses."""

from __future__ import annotations

from keras import layers

from zoo.common import channel_axis

BN_EPSILON = 1e-3  # keras.applications' value; timm/torchvision use 1e-5 (weights differ, counts don't)


def activation(x, act, name):
    """Apply ``act`` (a Keras activation name, ``"relu6"``, or None for linear)."""
    if act is None:
        return x
    if act == "relu6":
        return layers.ReLU(6.0, name=name)(x)
    return layers.Activation(act, name=name)(x)


def conv_bn_act(x, filters, kernel_size=1, *, strides=1, groups=1, dilation=1, padding="same",
                act="relu", use_bias=False, bn=True, name):
    """Conv2D (grouped via ``zoo.layers.GroupedConv2D`` when ``groups > 1``) -> BN -> activation."""
    from zoo.layers import GroupedConv2D

    conv_cls = GroupedConv2D if groups > 1 else layers.Conv2D
    kwargs = {"groups": groups} if groups > 1 else {}
    x = conv_cls(filters, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                 use_bias=use_bias, name=f"{name}_conv", **kwargs)(x)
    if bn:
        x = layers.BatchNormalization(axis=channel_axis(), epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return activation(x, act, f"{name}_{act}" if act else None)


def depthwise_bn_act(x, kernel_size=3, *, strides=1, dilation=1, depth_multiplier=1, padding="same",
                     act="relu", use_bias=False, bn=True, name):
    """DepthwiseConv2D -> BN -> activation."""
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                               depth_multiplier=depth_multiplier, use_bias=use_bias, name=f"{name}_dw")(x)
    if bn:
        x = layers.BatchNormalization(axis=channel_axis(), epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return activation(x, act, f"{name}_{act}" if act else None)


