"""A classifier built around the dilated context module of Yu & Koltun.

Paper: Multi-Scale Context Aggregation by Dilated Convolutions (Yu & Koltun, ICLR 2016)
-- https://arxiv.org/abs/1511.07122

Ours versus the paper:
- The paper's front end is VGG-16 adapted to output stride 8 for segmentation; ours is a
  small VGG-style front end (``FRONT_END``: 3x3 convs, each stage closed by a 3x3/2 max-pool,
  output stride 8) and the network classifies: the context module's output is globally
  pooled into a Dense classifier (``zoo.blocks.classifier_head``).
- The basic context module (Table 1): C-channel 3x3 convs with ``dilations``
  (1, 1, 2, 4, 8, 16, 1) then a 1x1 C conv, with C = the front end's output width. The paper
  trains it with identity initialisation and no normalisation; we put BatchNorm + ReLU after
  every conv (layer 8 included) so it trains from scratch like the rest of the zoo.
- ``context=False`` keeps the same layers with every dilation set to 1: identical parameters
  and MACs, a receptive field of 15 instead of 67 module-input pixels -- the paper's point.
- Small inputs (shorter side < 128 px): the first two max-pools use stride 1, so the output
  stride drops from 8 to 2 (32x32 -> 16x16), leaving the dilations room to act.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from zoo.blocks.conv_bn_act import conv_bn_act
from zoo.blocks.dilated import BASIC_DILATIONS, context_module
from zoo.blocks.head import classifier_head, head_params
from zoo.common import conv_params, input_channels, is_positive, is_positive_int, round_channels, small_input_strides
from zoo.registry import register

# (filters, 3x3 convs) per front-end stage; each stage ends with a 3x3/2 max-pool.
FRONT_END = ((16, 1), (32, 1), (64, 2))
POOL_SIZE, POOL_STRIDE = 3, 2


def _strides(small_input):
    """Strides of the front end's max-pools."""
    return small_input_strides([POOL_STRIDE] * len(FRONT_END), small_input)


def _estimate_params(knobs):
    n, c = 0, input_channels(knobs["input_shape"])
    for filters, convs in FRONT_END:
        filters = round_channels(filters, knobs["width"])
        n += conv_params(c, filters, 3) + (convs - 1) * conv_params(filters, filters, 3)
        c = filters
    n += len(knobs["dilations"]) * conv_params(c, c, 3) + conv_params(c, c)  # the context module
    return n + head_params(c, knobs)


@register(
    "dilated",
    paper="https://arxiv.org/abs/1511.07122",
    knobs={
        "dilations": (lambda v: isinstance(v, (tuple, list)) and len(v) > 0 and all(map(is_positive_int, v)),
                      "a non-empty tuple of integers > 0, e.g. (1, 1, 2, 4, 8, 16, 1): one 3x3 context "
                      "layer per rate"),
        "width": (is_positive, "a number > 0: multiplies every channel count (rounded to a multiple of 8)"),
        "context": [True, False],
    },
    min_input_size=lambda k: math.prod(_strides(k["small_input"])),
    estimate_params=_estimate_params,
    variants={"dilated_plain": {"context": False}},
)
def dilated(*, dilations=BASIC_DILATIONS, width=1.0, context=True, input_shape=(224, 224, 3),
            num_classes=1000, include_top=True, pooling=None, classifier_activation="softmax",
            dropout=0.0, small_input=None, name="dilated"):
    """Front end (output stride 8) -> basic context module (dilated 3x3 stack) -> classifier."""
    strides = _strides(small_input)
    rates = tuple(int(d) for d in dilations) if context else (1,) * len(dilations)

    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for stage, ((filters, convs), stride) in enumerate(zip(FRONT_END, strides), start=1):
        filters = round_channels(filters, width)
        for unit in range(convs):
            x = conv_bn_act(x, filters, 3, name=f"front{stage}_unit{unit}")
        x = layers.MaxPooling2D(POOL_SIZE, stride, padding="same", name=f"front{stage}_pool")(x)
    x = context_module(x, round_channels(FRONT_END[-1][0], width), rates, name="context")
    outputs = classifier_head(x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                              dropout=dropout, classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name)
