"""MobileNet (v1).

Paper: MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications,
Howard et al. 2017 -- https://arxiv.org/abs/1704.04861

Differs from the paper as ``keras.applications.MobileNet`` does (same parameter count,
4,253,864 at width 1): ReLU6 instead of ReLU, and widths rounded with the zoo's one rule
(``zoo.common.round_channels``, multiples of 8) rather than truncated. ``conv="standard"``
is the paper's "Conv MobileNet" of Table 4; ``output_stride`` is DeepLab's atrous trick.
"""

from __future__ import annotations

from functools import partial

import keras

from zoo.blocks import classifier_head, conv_bn_act
from zoo.blocks.separable import depthwise_separable
from zoo.common import check_choice, check_head, check_input_shape, check_positive, resolve_small_input, round_channels
from zoo.registry import register

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
    out = 1
    for s, _ in plan:
        out *= s
    return out


@register("mobilenet", paper=PAPER, knobs={
    "width": "a number > 0: the width multiplier alpha (0.25, 0.5, 0.75, 1.0 in the paper)",
    "depth_multiplier": "an integer > 0: depthwise outputs per input channel (keras' depth_multiplier)",
    "conv": list(CONV_KINDS),
    "output_stride": list(OUTPUT_STRIDES),
}, variants={
    "mobilenet_w025": {"width": 0.25, "name": "mobilenet_w025"},
    "mobilenet_w050": {"width": 0.5, "name": "mobilenet_w050"},
    "mobilenet_w075": {"width": 0.75, "name": "mobilenet_w075"},
    "mobilenet_conv": {"conv": "standard", "name": "mobilenet_conv"},
})
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
    owner = "mobilenet"
    check_positive(owner, "width", width)
    check_positive(owner, "depth_multiplier", depth_multiplier, integer=True)
    check_choice(owner, "conv", conv, CONV_KINDS)
    check_choice(owner, "output_stride", output_stride, OUTPUT_STRIDES)
    check_head(owner, num_classes=num_classes, include_top=include_top, pooling=pooling, dropout=dropout)
    small_input = resolve_small_input(owner, small_input, input_shape)

    widen = partial(round_channels, multiplier=width)
    units = [(c, s if i == 0 else 1) for c, s, n in BODY for i in range(n)]
    unit_names = [f"stage{st}_unit{i}" for st, (_, _, n) in enumerate(BODY, start=1) for i in range(n)]
    strides = [2] + [s for _, s in units]
    if small_input:  # the stem conv and the first stride-2 unit keep full resolution
        strides[0] = 1
        strides[strides.index(2)] = 1
    plan = plan_strides(strides, output_stride)
    input_shape = check_input_shape(owner, input_shape, min_size=total_stride(plan))

    inputs = keras.Input(input_shape)
    x = conv_bn_act(inputs, widen(STEM_CHANNELS), 3, strides=plan[0][0], act="relu6", name="stem")
    for (filters, _), (s, d), unit in zip(units, plan[1:], unit_names):
        if conv == "separable":
            x = depthwise_separable(x, widen(filters), strides=s, dilation=d,
                                    depth_multiplier=depth_multiplier, name=unit)
        else:
            x = conv_bn_act(x, widen(filters), 3, strides=s, dilation=d, act="relu6", name=f"{unit}_conv")
    x = classifier_head(x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                        dropout=dropout, classifier_activation=classifier_activation)
    return keras.Model(inputs, x, name=name)
