"""MobileNetV2.

Paper: MobileNetV2: Inverted Residuals and Linear Bottlenecks, Sandler et al. 2018 --
https://arxiv.org/abs/1801.04381

Matches ``keras.applications.MobileNetV2`` layer for layer (3,538,984 parameters at width 1;
the paper reports 3.4M and 300M multiply-adds). ``expansion`` replaces the paper's t=6 in
every row that uses it; ``output_stride`` is DeepLab's atrous trick (Section 6.3 of the paper).
"""

from __future__ import annotations

from functools import partial

import keras

from zoo.blocks import classifier_head, conv_bn_act, head_params
from zoo.blocks.inverted_residual import inverted_residual
from zoo.common import conv_params, input_channels, is_number, is_positive, round_channels, small_input_strides
from zoo.models.mobilenet import OUTPUT_STRIDES, plan_strides, total_stride
from zoo.registry import register, width_variants

PAPER = "https://arxiv.org/abs/1801.04381"

STEM_CHANNELS = 32
# Table 2 of the paper: expansion t, out channels c, repeats n, first stride s.
# t=6 rows follow the `expansion` knob; the first row's t=1 is fixed.
BOTTLENECKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
LAST_CHANNELS = 1280  # widened only when width > 1, as in the paper's reference code


def _blocks(expansion):
    """(expansion, out channels at width 1, stride, layer name) of the 17 inverted residual blocks."""
    return [(expansion if t != 1 else 1, c, s if i == 0 else 1, f"stage{st}_unit{i}")
            for st, (t, c, n, s) in enumerate(BOTTLENECKS, start=1) for i in range(n)]


def _plan(small_input, output_stride):
    """(stride, dilation) of the stem and of every block, small-input rule and output_stride applied."""
    strides = [2] + [s for _, _, s, _ in _blocks(1)]
    return plan_strides(small_input_strides(strides, small_input), output_stride)


def _last_channels(width):
    return round_channels(LAST_CHANNELS, width) if width > 1 else LAST_CHANNELS


def _estimate_params(knobs):
    widen = partial(round_channels, multiplier=knobs["width"])
    c = widen(STEM_CHANNELS)
    n = conv_params(input_channels(knobs["input_shape"]), c, 3)
    for t, filters, _, _ in _blocks(knobs["expansion"]):
        hidden = int(c * t)
        n += (conv_params(c, hidden) if t != 1 else 0) + conv_params(1, hidden, 3) + conv_params(hidden, widen(filters))
        c = widen(filters)
    last = _last_channels(knobs["width"])
    n += conv_params(c, last)
    return n + head_params(last, knobs)


@register("mobilenet_v2", paper=PAPER, knobs={
    "width": (is_positive, "a number > 0: the width multiplier (0.35 to 1.4 in the paper)"),
    "expansion": (lambda v: is_number(v) and v >= 1,
                  "a number >= 1: expansion factor t of the bottlenecks (the paper's 6)"),
    "output_stride": list(OUTPUT_STRIDES),
}, min_input_size=lambda k: total_stride(_plan(k["small_input"], k["output_stride"])),
   estimate_params=_estimate_params, variants=width_variants("mobilenet_v2", (0.35, 0.5, 0.75, 1.4)))
def mobilenet_v2(*, width=1.0, expansion=6, output_stride=None, input_shape=(224, 224, 3),
                 num_classes=1000, include_top=True, pooling=None, classifier_activation="softmax",
                 dropout=0.0, small_input=None, name="mobilenet_v2"):
    """MobileNetV2: a stem conv, 17 inverted residual blocks and a 1x1 conv to 1280 channels.

    Args:
        width: width multiplier; channels become ``round_channels(c, width)``, except the
            last conv, which stays at 1280 for width <= 1.
        expansion: expansion factor t of every bottleneck but the first (t=1).
        output_stride: None, or 8/16/32: stop striding at that total stride and dilate the
            later depthwise convolutions instead (DeepLab).
        input_shape: (H, W, 3); H and W must be at least the total stride (32, 8 with small_input).
        small_input: None = auto (shorter side < 128 px). True makes the stem conv and the first
            stride-2 block (stage2_unit0) stride 1: total stride 32 -> 8.
        include_top, pooling, num_classes, classifier_activation, dropout, name: as in
            keras.applications (which has no dropout in MobileNetV2, hence 0).
    """
    widen = partial(round_channels, multiplier=width)
    plan = _plan(small_input, output_stride)

    inputs = keras.Input(input_shape)
    x = conv_bn_act(inputs, widen(STEM_CHANNELS), 3, strides=plan[0][0], act="relu6", name="stem")
    for (t, c, _, unit), (s, d) in zip(_blocks(expansion), plan[1:]):
        x = inverted_residual(x, widen(c), expansion=t, strides=s, dilation=d, name=unit)
    x = conv_bn_act(x, _last_channels(width), 1, act="relu6", name="last")
    x = classifier_head(x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                        dropout=dropout, classifier_activation=classifier_activation)
    return keras.Model(inputs, x, name=name)
