"""convnet: one plain macro-architecture, every convolution type of the survey.

Not from a paper: a small VGG-style stack (Simonyan & Zisserman 2014,
https://arxiv.org/abs/1409.1556, with BatchNorm) whose every non-stem 3x3 convolution is
swapped by the ``conv`` knob, so the convolution types are compared on one network with
everything else fixed -- the comparison the survey is about.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from zoo.blocks import classifier_head, conv_bn_act, head_params
from zoo.blocks.conv_bn_act import BN_EPSILON, activation
from zoo.common import (
    channel_axis,
    conv_params,
    input_channels,
    is_positive,
    is_positive_int,
    round_channels,
    small_input_strides,
)
from zoo.layers import make_conv
from zoo.registry import register

STEM_CHANNELS = 32
STAGES = ((64, 1), (128, 2), (256, 2))  # (channels, first unit's stride); after the stem conv + pool
UNITS_PER_STAGE = 2
CONV_KINDS = ("standard", "dilated", "grouped", "separable", "pointwise")


def _channels(width):
    """Output channels of the stem and of the three stages."""
    return [round_channels(c, width) for c in (STEM_CHANNELS, *(c for c, _ in STAGES))]


def _strides(small_input):
    """Strides of the stem conv, the stem pool and the first unit of each stage."""
    return small_input_strides([2, 2] + [s for _, s in STAGES], small_input)


def _check(knobs):
    """With conv='grouped', ``groups`` must divide every layer's channels (and be >= 2)."""
    if knobs["conv"] != "grouped":
        return None
    groups, channels = knobs["groups"], _channels(knobs["width"])
    if groups < 2:
        return "groups", "an integer >= 2 when conv='grouped'"
    bad = [c for c in channels if c % groups]
    if bad:
        divisors = [g for g in range(2, min(channels) + 1) if all(c % g == 0 for c in channels)]
        return "groups", (f"a divisor of every layer's channels {sorted(set(channels))} "
                          f"(does not divide {sorted(set(bad))}); e.g. one of {divisors[:8]}")
    return None


def _unit_params(kind, cin, cout, *, groups, reduction):
    if kind == "pointwise":
        narrow = max(1, cout // reduction)
        return conv_params(cin, narrow) + conv_params(narrow, narrow, 3) + conv_params(narrow, cout)
    if kind == "separable":  # depthwise 3x3 -> pointwise 1x1, one BN after both
        return conv_params(1, cin, 3, bn=False) + conv_params(cin, cout)
    return conv_params(cin, cout, 3, groups=groups if kind == "grouped" else 1)


def _estimate_params(knobs):
    stem, *stages = _channels(knobs["width"])
    n, c = conv_params(input_channels(knobs["input_shape"]), stem, 3), stem
    for filters in stages:
        for _ in range(UNITS_PER_STAGE):
            n += _unit_params(knobs["conv"], c, filters, groups=knobs["groups"], reduction=knobs["reduction"])
            c = filters
    return n + head_params(c, knobs)


def _unit(x, kind, filters, *, strides, dilation, groups, reduction, name):
    """One swappable unit: the chosen convolution -> BN -> ReLU.

    ``dilated`` keeps the strided units at dilation 1 (Keras cannot stride and dilate at
    once); ``pointwise`` is a bottleneck: 1x1 reduce -> 3x3 -> 1x1 expand, BN+ReLU inside.
    """
    if kind == "pointwise":
        narrow = max(1, filters // reduction)
        x = conv_bn_act(x, narrow, 1, name=f"{name}_reduce")
        x = conv_bn_act(x, narrow, 3, strides=strides, name=f"{name}_conv3")
        x = make_conv("pointwise", filters, name=f"{name}_expand_conv")(x)
    elif kind == "dilated" and strides > 1:
        x = make_conv("standard", filters, 3, strides=strides, name=f"{name}_conv")(x)
    else:
        x = make_conv(kind, filters, 3, strides=strides, dilation=dilation if kind == "dilated" else 1,
                      groups=groups, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(axis=channel_axis(), epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return activation(x, "relu", f"{name}_relu")


@register("convnet", check=_check, min_input_size=lambda k: math.prod(_strides(k["small_input"])),
          estimate_params=_estimate_params, knobs={
    "conv": list(CONV_KINDS),
    "width": (is_positive, "a number > 0: width multiplier on every layer's channels"),
    "dilation": (is_positive_int, "an integer >= 1: dilation rate of the 'dilated' kind (1 means 2)"),
    "groups": (is_positive_int, "an integer >= 1, used by conv='grouped': there >= 2 and dividing every "
                                "layer's channels (32, 64, 128, 256 at width 1)"),
    "reduction": (is_positive_int, "an integer >= 1: channel reduction of the 'pointwise' bottleneck"),
}, variants={
    "convnet_dilated": {"conv": "dilated", "name": "convnet_dilated"},
    "convnet_grouped": {"conv": "grouped", "name": "convnet_grouped"},
    "convnet_separable": {"conv": "separable", "name": "convnet_separable"},
    "convnet_pointwise": {"conv": "pointwise", "name": "convnet_pointwise"},
})
def convnet(*, conv="standard", width=1.0, dilation=2, groups=4, reduction=4, input_shape=(224, 224, 3),
            num_classes=1000, include_top=True, pooling=None, classifier_activation="softmax", dropout=0.0,
            small_input=None, name="convnet"):
    """A VGG-style net: stem conv + max-pool, 3 stages x 2 units (64/128/256 channels), head.

    Args:
        conv: the convolution of every non-stem unit: "standard" (3x3), "dilated" (3x3 with
            ``dilation``; the two strided units stay undilated), "grouped" (``groups``),
            "separable" (depthwise 3x3 -> pointwise 1x1), "pointwise" (1x1 reduce by
            ``reduction`` -> 3x3 -> 1x1 expand). The stem is always a standard 3x3 conv.
        width: width multiplier; channels become ``round_channels(c, width)``.
        dilation, groups, reduction: parameters of their kinds, ignored by the others.
        input_shape: (H, W, 3), at least the total stride (16, or 4 with small_input).
        small_input: None = auto (shorter side < 128 px). True makes the stem conv and the
            stem max-pool stride 1: total stride 16 -> 4.
        include_top, pooling, num_classes, classifier_activation, dropout, name: as in
            keras.applications.
    """
    channels = _channels(width)
    stem_stride, pool_stride, *_ = _strides(small_input)

    inputs = keras.Input(input_shape)
    x = conv_bn_act(inputs, channels[0], 3, strides=stem_stride, name="stem")
    x = layers.MaxPooling2D(3, strides=pool_stride, padding="same", name="stem_pool")(x)
    for st, ((_, stride), filters) in enumerate(zip(STAGES, channels[1:]), start=1):
        for i in range(UNITS_PER_STAGE):
            x = _unit(x, conv, filters, strides=stride if i == 0 else 1, dilation=dilation, groups=groups,
                      reduction=reduction, name=f"stage{st}_unit{i}")
    x = classifier_head(x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                        dropout=dropout, classifier_activation=classifier_activation)
    return keras.Model(inputs, x, name=name)
