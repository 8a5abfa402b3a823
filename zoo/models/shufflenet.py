"""ShuffleNet (v1): pointwise group convolutions with channel shuffle.

Paper: ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices
(Zhang et al., 2017) -- https://arxiv.org/abs/1707.01083

Ours versus the paper:
- Stage widths are Table 1's (``STAGE_CHANNELS``); the scale factor ``width`` (the paper's
  "s x") multiplies them with ``round_channels(c, width, 4 * groups)`` so every stage width
  and its bottleneck (width / 4) stay divisible by ``groups``; at width 1 the table is exact.
  The 24-filter stem conv is scaled too (rounded to a multiple of lcm(4, groups)); the
  authors' code keeps 24 at 1.5x, we give 36.
- The first unit of stage 2 has a dense first 1x1 (paper, Section 3.3) and therefore no
  channel shuffle after it (a shuffle after a dense layer mixes nothing new).
- The stride-2 shortcut is a 3x3/2 average pool with "same" padding; Keras averages over
  the valid pixels only (torch's default counts the padding). No effect on costs.
- ``shuffle=False`` removes only the ChannelShuffle layers (Table 3's ablation).
- Multiply-adds of the conv layers at 224x224, 1x (classifier excluded, as in the paper),
  counted in ``tests/test_shufflenet.py``: 142.5/140.0/136.5/133.3/136.8 M for g = 1/2/3/4/8
  versus Table 1's 143/140/137/133/137 MFLOPs.
- Small inputs (shorter side < 128 px): the stem conv and the stem max-pool use stride 1,
  so the total stride drops from 32 to 8 (32x32 -> 4x4).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from zoo.blocks.conv_bn_act import conv_bn_act
from zoo.blocks.head import classifier_head, head_params
from zoo.blocks.shuffle_unit import shufflenet_v1_unit
from zoo.common import conv_params, input_channels, is_positive, round_channels, small_input_strides
from zoo.registry import register

# Output channels of stages 2, 3, 4 at 1x, per group count g (paper, Table 1).
STAGE_CHANNELS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
STAGE_REPEATS = (4, 8, 4)  # units per stage; the first of each has stride 2
STEM_CHANNELS = 24
PAPER_MFLOPS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}  # Table 1, 1x, 224x224


def stage_widths(groups, width=1.0):
    """(stem, stage2, stage3, stage4) output channels for ``groups`` and scale ``width``."""
    stem = round_channels(STEM_CHANNELS, width, math.lcm(4, groups))
    return (stem,) + tuple(round_channels(c, width, 4 * groups) for c in STAGE_CHANNELS[groups])


def _strides(small_input):
    """Strides of the stem conv, the stem pool and the first unit of each stage."""
    return small_input_strides([2, 2] + [2] * len(STAGE_REPEATS), small_input)


def _check(knobs):
    widths = stage_widths(knobs["groups"], knobs["width"])
    if widths[1] <= widths[0]:
        return "width", (f"a scale that keeps stage 2 ({widths[1]} channels) wider than the stem "
                         f"({widths[0]}) with groups={knobs['groups']}")
    return None


def _estimate_params(knobs):
    g = knobs["groups"]
    stem, *stages = stage_widths(g, knobs["width"])
    n, c = conv_params(input_channels(knobs["input_shape"]), stem, 3), stem
    for stage, (out, repeats) in enumerate(zip(stages, STAGE_REPEATS)):
        for unit in range(repeats):  # pw1 (dense in the very first unit) -> dw -> pw2 (branch width)
            first_groups = 1 if stage == unit == 0 else g
            branch = out - c if unit == 0 else out
            n += conv_params(c, out // 4, groups=first_groups) + conv_params(1, out // 4, 3)
            n += conv_params(out // 4, branch, groups=g)
            c = out
    return n + head_params(c, knobs)


@register(
    "shufflenet",
    paper="https://arxiv.org/abs/1707.01083",
    knobs={
        "groups": sorted(STAGE_CHANNELS),
        "width": (is_positive, "a number > 0: the paper's scale factor s (0.25, 0.5, 1, 1.5, 2 in the paper)"),
        "shuffle": [True, False],
    },
    check=_check,
    min_input_size=lambda k: math.prod(_strides(k["small_input"])),
    estimate_params=_estimate_params,
    variants={f"shufflenet_g{g}": {"groups": g} for g in sorted(STAGE_CHANNELS)},
)
def shufflenet(*, groups=3, width=1.0, shuffle=True, input_shape=(224, 224, 3), num_classes=1000,
               include_top=True, pooling=None, classifier_activation="softmax", dropout=0.0,
               small_input=None, name="shufflenet"):
    """ShuffleNet v1: stem, three stages of shuffle units (Table 1), global pool, classifier."""
    widths = stage_widths(groups, width)
    stem_stride, pool_stride, *_ = _strides(small_input)

    inputs = keras.Input(input_shape, name="input")
    x = conv_bn_act(inputs, widths[0], 3, strides=stem_stride, name="stem")
    x = layers.MaxPooling2D(3, pool_stride, padding="same", name="stem_pool")(x)
    for stage, (out_channels, repeats) in enumerate(zip(widths[1:], STAGE_REPEATS), start=2):
        for unit in range(repeats):
            x = shufflenet_v1_unit(x, out_channels, strides=2 if unit == 0 else 1, groups=groups,
                                   group_first=not (stage == 2 and unit == 0), shuffle=shuffle,
                                   name=f"stage{stage}_unit{unit}")
    outputs = classifier_head(x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                              dropout=dropout, classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name)
