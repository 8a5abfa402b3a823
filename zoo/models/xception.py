"""Xception.

Paper: Xception: Deep Learning with Depthwise Separable Convolutions, Chollet 2017 --
https://arxiv.org/abs/1610.02357

Matches ``keras.applications.Xception`` layer for layer (22,910,480 parameters at the
defaults). Ours adds ``width`` (every channel count scaled with ``round_channels``) and
``middle_blocks`` (the paper's 8 repeats of the middle flow). The stem's two 3x3 convs
are valid-padded, so the input must be at least 7x7 (5x5 with ``small_input``); keras'
71x71 minimum is for its pretrained weights, not the architecture.
"""

from __future__ import annotations

from functools import partial

import keras
from keras import layers

from zoo.blocks import classifier_head, conv_bn_act, head_params
from zoo.blocks.conv_bn_act import BN_EPSILON
from zoo.blocks.separable import separable_conv_bn
from zoo.common import (
    channel_axis,
    conv_params,
    input_channels,
    is_int,
    is_positive,
    round_channels,
    small_input_strides,
)
from zoo.registry import register

PAPER = "https://arxiv.org/abs/1610.02357"

STEM_CHANNELS = (32, 64)  # two plain 3x3 convs, valid padding, the first with stride 2
ENTRY_CHANNELS = (128, 256, 728)  # entry-flow blocks: two separable convs + strided max-pool each
MIDDLE_CHANNELS = 728
MIDDLE_BLOCKS = 8
EXIT_CHANNELS = (728, 1024)  # the exit flow's residual block
EXIT_TAIL = (1536, 2048)  # two more separable convs before global pooling


def _strides(small_input):
    """Strides of the first stem conv, the three entry-flow blocks and the exit block."""
    return small_input_strides([2] * (1 + len(ENTRY_CHANNELS) + 1), small_input)


def _min_size(knobs):
    """Smallest side for which the valid-padded stem leaves at least a 1x1 map."""
    after_stem2 = 1 + 2  # second stem conv: 3x3 valid
    stride = _strides(knobs["small_input"])[0]
    return stride * (after_stem2 - 1) + 3  # first stem conv: 3x3 valid, stride 1 or 2


def _sep_params(cin, cout):
    """SeparableConv2D (3x3 depthwise, 1x1 pointwise, no BN between) -> BN."""
    return conv_params(1, cin, 3, bn=False) + conv_params(cin, cout)


def _estimate_params(knobs):
    widen = partial(round_channels, multiplier=knobs["width"])
    c0, c = widen(STEM_CHANNELS[0]), widen(STEM_CHANNELS[1])
    n = conv_params(input_channels(knobs["input_shape"]), c0, 3) + conv_params(c0, c, 3)
    blocks = [(widen(f), widen(f)) for f in ENTRY_CHANNELS] + [tuple(widen(f) for f in EXIT_CHANNELS)]
    for i, (f0, f1) in enumerate(blocks):  # strided blocks: 1x1 shortcut + two separable convs
        n += conv_params(c, f1) + _sep_params(c, f0) + _sep_params(f0, f1)
        c = f1
        if i == len(ENTRY_CHANNELS) - 1:  # the middle flow sits between entry and exit
            n += knobs["middle_blocks"] * 3 * _sep_params(c, c)
    for f in EXIT_TAIL:
        n += _sep_params(c, widen(f))
        c = widen(f)
    return n + head_params(c, knobs)


def _strided_block(x, filters, *, strides, act_first, name):
    """Two separable convs and a 3x3 max-pool, with a 1x1 strided conv on the shortcut."""
    shortcut = conv_bn_act(x, filters[1], 1, strides=strides, act=None, name=f"{name}_shortcut")
    x = separable_conv_bn(x, filters[0], act_first=act_first, name=f"{name}_sep1")
    x = separable_conv_bn(x, filters[1], name=f"{name}_sep2")
    x = layers.MaxPooling2D(3, strides=strides, padding="same", name=f"{name}_pool")(x)
    return layers.Add(name=f"{name}_add")([x, shortcut])


@register("xception", paper=PAPER, min_input_size=_min_size, estimate_params=_estimate_params, knobs={
    "width": (is_positive, "a number > 0: width multiplier on every layer's channels"),
    "middle_blocks": (lambda v: is_int(v) and v >= 0,
                      "an integer >= 0: repeats of the middle flow (the paper's 8)"),
})
def xception(*, width=1.0, middle_blocks=MIDDLE_BLOCKS, input_shape=(299, 299, 3), num_classes=1000,
             include_top=True, pooling=None, classifier_activation="softmax", dropout=0.0,
             small_input=None, name="xception"):
    """Xception: entry flow (stem + 3 strided blocks), middle flow, exit flow.

    Args:
        width: width multiplier; channels become ``round_channels(c, width)``.
        middle_blocks: number of middle-flow blocks (3 ReLU-SepConv-BN each, identity shortcut).
        input_shape: (H, W, 3), default 299x299 as in the paper; at least 7x7 (5x5 with small_input).
        small_input: None = auto (shorter side < 128 px). True makes the first stem conv and
            the first entry-flow block (entry1) stride 1: total stride 32 -> 8.
        include_top, pooling, num_classes, classifier_activation, dropout, name: as in
            keras.applications (which has no dropout in Xception, hence 0).
    """
    widen = partial(round_channels, multiplier=width)
    stem_stride, *block_strides = _strides(small_input)

    inputs = keras.Input(input_shape)
    # --- entry flow ---
    x = conv_bn_act(inputs, widen(STEM_CHANNELS[0]), 3, strides=stem_stride, padding="valid", name="stem1")
    x = conv_bn_act(x, widen(STEM_CHANNELS[1]), 3, padding="valid", name="stem2")
    for i, c in enumerate(ENTRY_CHANNELS):
        x = _strided_block(x, (widen(c), widen(c)), strides=block_strides[i],
                           act_first=i > 0, name=f"entry{i + 1}")
    # --- middle flow ---
    for i in range(middle_blocks):
        y = x
        for j in range(3):
            y = separable_conv_bn(y, widen(MIDDLE_CHANNELS), name=f"middle{i + 1}_sep{j + 1}")
        x = layers.Add(name=f"middle{i + 1}_add")([x, y])
    # --- exit flow ---
    x = _strided_block(x, tuple(widen(c) for c in EXIT_CHANNELS), strides=block_strides[-1], act_first=True,
                       name="exit1")
    for j, c in enumerate(EXIT_TAIL, start=1):
        x = layers.SeparableConv2D(widen(c), 3, padding="same", use_bias=False, name=f"exit2_sep{j}_sepconv")(x)
        x = layers.BatchNormalization(axis=channel_axis(), epsilon=BN_EPSILON, name=f"exit2_sep{j}_bn")(x)
        x = layers.ReLU(name=f"exit2_sep{j}_relu")(x)
    x = classifier_head(x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                        dropout=dropout, classifier_activation=classifier_activation)
    return keras.Model(inputs, x, name=name)
