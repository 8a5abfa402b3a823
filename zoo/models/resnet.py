"""ResNet for CIFAR-10.

Paper: Deep Residual Learning for Image Recognition, He et al. 2016 --
https://arxiv.org/abs/1512.03385 (Section 4.2, the 6n+2-layer CIFAR networks)

As in the paper: a 3x3 conv, three stages of n basic blocks at 16/32/64 channels on
32/16/8 maps, global average pooling and a dense layer, with the parameter-free option-A
shortcut (strided subsampling + zero-padded channels). Ours adds ``width`` and the zoo's
keras.applications-style head arguments.
"""

from __future__ import annotations

from functools import partial

import keras

from zoo.blocks import classifier_head, conv_bn_act, head_params
from zoo.blocks.residual import basic_block
from zoo.common import conv_params, input_channels, is_int, is_positive, round_channels
from zoo.registry import register

PAPER = "https://arxiv.org/abs/1512.03385"

STEM_CHANNELS = 16
# Section 4.2: (channels, first block's stride) of the three stages, n blocks each.
STAGES = ((16, 1), (32, 2), (64, 2))
TOTAL_STRIDE = 4
PAPER_DEPTHS = (20, 32, 44, 56, 110, 1202)


def _estimate_params(knobs):
    widen = partial(round_channels, multiplier=knobs["width"])
    blocks = (knobs["depth"] - 2) // 6
    c = widen(STEM_CHANNELS)
    n = conv_params(input_channels(knobs["input_shape"]), c, 3)
    for channels, _ in STAGES:  # the first block of a stage changes the width, the others keep it
        w = widen(channels)
        n += conv_params(c, w, 3) + conv_params(w, w, 3) + (blocks - 1) * 2 * conv_params(w, w, 3)
        c = w
    return n + head_params(c, knobs)


@register("resnet", paper=PAPER, min_input_size=TOTAL_STRIDE, estimate_params=_estimate_params, knobs={
    "depth": (lambda v: is_int(v) and v >= 8 and (v - 2) % 6 == 0,
              f"6n+2 with n >= 1, e.g. {', '.join(map(str, PAPER_DEPTHS))} (the paper's)"),
    "width": (is_positive, "a number > 0: width multiplier on the 16/32/64 stage channels"),
}, variants={
    "resnet20": {"depth": 20, "name": "resnet20"},
    "resnet32": {"depth": 32, "name": "resnet32"},
    "resnet56": {"depth": 56, "name": "resnet56"},
})
def resnet(*, depth=20, width=1.0, input_shape=(32, 32, 3), num_classes=10, include_top=True,
           pooling=None, classifier_activation="softmax", dropout=0.0, small_input=None, name="resnet"):
    """The CIFAR ResNet-(6n+2): 3x3 stem conv, 3 x n basic blocks, pooling, dense.

    The defaults are the paper's CIFAR-10 network (32x32 inputs, 10 classes) because this
    family IS that network; it builds at any size (at 224x224 it simply runs on bigger maps).

    Args:
        depth: 6n+2 layers (n blocks per stage): 20 -> 0.27M, 32 -> 0.46M, 56 -> 0.85M params.
        width: width multiplier; stage channels become ``round_channels(c, width)``.
        input_shape: (H, W, 3), at least 4x4 (the total stride).
        small_input: accepted for a uniform interface and ignored: the CIFAR network
            already keeps full resolution in its stem (total stride 4).
        include_top, pooling, num_classes, classifier_activation, dropout, name: as in
            keras.applications (the paper uses no dropout, hence 0).
    """
    widen = partial(round_channels, multiplier=width)
    blocks_per_stage = (depth - 2) // 6
    inputs = keras.Input(input_shape)
    x = conv_bn_act(inputs, widen(STEM_CHANNELS), 3, name="stem")
    for st, (channels, stride) in enumerate(STAGES, start=1):
        for i in range(blocks_per_stage):
            x = basic_block(x, widen(channels), strides=stride if i == 0 else 1, name=f"stage{st}_unit{i}")
    x = classifier_head(x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                        dropout=dropout, classifier_activation=classifier_activation)
    return keras.Model(inputs, x, name=name)
