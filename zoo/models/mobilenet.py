"""MobileNet (v1).

Paper: MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications,
Howard et al. 2017 -- https://arxiv.org/abs/1704.04861

Differs from the paper as ``keras.applications.MobileNet`` does (same parameter count,
4,253,864 at width 1): ReLU6 instead of ReLU, and widths rounded with the zoo's one rule
(``zoo.common.round_channels``, multiples of 8) rather than truncated. ``conv="standard"``
is the paper's "Conv MobileNet" of Table 4; ``output_stride`` is DeepLab's atrous trick.
"""

from __future__ import annotations

import math
from functools import partial

import keras

from zoo.blocks import classifier_head, conv_bn_act, head_params
from zoo.blocks.separable import depthwise_separable
from zoo.common import conv_params, input_channels, is_positive, is_positive_int, round_channels, small_input_strides
from zoo.registry import register, width_variants

PAPER = "https://arxiv.org/abs/1704.04861"

STEM_CHANNELS = 32
# Table 1 of the paper, grouped into stages by resolution: (out channels, first unit's stride, units).
BODY = (
    (64, 1, 1),
    (128, 2, 2),
    (256, 2, 2),
    (512, 2, 6),
    (1024, 2, 2),
)
CONV_KINDS = ("separable", "standard")
OUTPUT_STRIDES = (None, 8, 16, 32)


def plan_strides(strides, output_stride):
    """(stride, dilation) per layer: once ``output_stride`` is reached, dilate instead of striding.

    DeepLab's rule (the TF-slim MobileNet code): the layer that would take the network past
    ``output_stride`` keeps stride 1, and its successors dilate by the stride it skipped.
    """
    current, rate, plan = 1, 1, []
    for s in strides:
        if output_stride is not None and current * s > output_stride:
            plan.append((1, rate))
            rate *= s
        else:
            plan.append((s, rate))
            current *= s
    return plan


def total_stride(plan):
    return math.prod(s for s, _ in plan)


UNITS = [(c, s if i == 0 else 1) for c, s, n in BODY for i in range(n)]  # (out channels, stride) per unit
UNIT_NAMES = [f"stage{st}_unit{i}" for st, (_, _, n) in enumerate(BODY, start=1) for i in range(n)]


def _plan(small_input, output_stride):
    """(stride, dilation) of the stem and of every unit, small-input rule and output_stride applied."""
    return plan_strides(small_input_strides([2] + [s for _, s in UNITS], small_input), output_stride)


def _estimate_params(knobs):
    widen = partial(round_channels, multiplier=knobs["width"])
    dm = knobs["depth_multiplier"]
    c = widen(STEM_CHANNELS)
    n = conv_params(input_channels(knobs["input_shape"]), c, 3)
    for filters, _ in UNITS:
        if knobs["conv"] == "separable":
            n += conv_params(1, c * dm, 3) + conv_params(c * dm, widen(filters))
        else:
            n += conv_params(c, widen(filters), 3)
        c = widen(filters)
    return n + head_params(c, knobs)


@register("mobilenet", paper=PAPER, knobs={
    "width": (is_positive, "a number > 0: the width multiplier alpha (0.25, 0.5, 0.75, 1.0 in the paper)"),
    "depth_multiplier": (is_positive_int,
                         "an integer > 0: depthwise outputs per input channel (keras' depth_multiplier)"),
    "conv": list(CONV_KINDS),
    "output_stride": list(OUTPUT_STRIDES),
}, min_input_size=lambda k: total_stride(_plan(k["small_input"], k["output_stride"])),
   estimate_params=_estimate_params,
   variants={**width_variants("mobilenet", (0.25, 0.5, 0.75)),
             "mobilenet_conv": {"conv": "standard", "name": "mobilenet_conv"}})
def mobilenet(*, width=1.0, depth_multiplier=1, conv="separable", output_stride=None,
              input_shape=(224, 224, 3), num_classes=1000, include_top=True, pooling=None,
              classifier_activation="softmax", dropout=1e-3, small_input=None, name="mobilenet"):
    """MobileNet v1: a stem conv and 13 depthwise-separable units.

    Args:
        width: width multiplier alpha; every layer's channels become ``round_channels(c, width)``.
        depth_multiplier: depthwise outputs per input channel (the pointwise conv reads them all);
            unused by ``conv="standard"``.
        conv: ``"separable"`` (the paper), or ``"standard"``: each depthwise-separable unit
            becomes one full 3x3 conv -> BN -> ReLU6 ("Conv MobileNet", Table 4: 29.3M params).
        output_stride: None, or 8/16/32: stop striding at that total stride and dilate the
            later 3x3 convolutions instead (DeepLab).
        input_shape: (H, W, 3); H and W must be at least the network's total stride
            (32, or 8 with ``small_input``, or ``output_stride``).
        small_input: None = auto (shorter side < 128 px). True makes the stem conv and the
            first stride-2 unit (stage2_unit0) stride 1: total stride 32 -> 8.
        include_top, pooling, num_classes, classifier_activation, dropout, name: as in
            keras.applications (dropout 1e-3 is its default).
    """
    widen = partial(round_channels, multiplier=width)
    plan = _plan(small_input, output_stride)

    inputs = keras.Input(input_shape)
    x = conv_bn_act(inputs, widen(STEM_CHANNELS), 3, strides=plan[0][0], act="relu6", name="stem")
    for (filters, _), (s, d), unit in zip(UNITS, plan[1:], UNIT_NAMES):
        if conv == "separable":
            x = depthwise_separable(x, widen(filters), strides=s, dilation=d,
                                    depth_multiplier=depth_multiplier, name=unit)
        else:
            x = conv_bn_act(x, widen(filters), 3, strides=s, dilation=d, act="relu6", name=f"{unit}_conv")
    x = classifier_head(x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                        dropout=dropout, classifier_activation=classifier_activation)
    return keras.Model(inputs, x, name=name)
