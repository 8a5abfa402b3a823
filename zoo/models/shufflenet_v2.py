"""ShuffleNet V2: channel split + channel shuffle units, designed by measured speed.

Paper: ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design
(Ma et al., 2018) -- https://arxiv.org/abs/1807.11164

Ours versus the paper / torchvision:
- Stage widths per ``width`` are Table 5's (``STAGE_CHANNELS``); units as torchvision's
  ``InvertedResidual`` (the split is a weightless ``ChannelSlice`` layer pair). The trainable
  parameter count equals torchvision's (2,278,604 for x1.0); Keras also counts the BN moving
  statistics, as non-trainable weights.
- "same" padding instead of torch's symmetric padding 1: same shapes, pixels offset by
  one at stride 2 (weights ported from torch would need explicit ZeroPadding2D).
- Small inputs (shorter side < 128 px): the stem conv and the stem max-pool use stride 1,
  so the total stride drops from 32 to 8 (32x32 -> 4x4).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from zoo.blocks.conv_bn_act import conv_bn_act
from zoo.blocks.head import classifier_head, head_params
from zoo.blocks.shuffle_unit import shufflenet_v2_unit
from zoo.common import conv_params, input_channels, small_input_strides
from zoo.registry import register

# Output channels of conv1, stage2, stage3, stage4, conv5 per width multiplier (Table 5).
STAGE_CHANNELS = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}
STAGE_REPEATS = (4, 8, 4)  # units per stage; the first of each has stride 2


def _strides(small_input):
    """Strides of the stem conv, the stem pool and the first unit of each stage."""
    return small_input_strides([2, 2] + [2] * len(STAGE_REPEATS), small_input)


def _estimate_params(knobs):
    stem, *stages, last = STAGE_CHANNELS[knobs["width"]]
    n, c = conv_params(input_channels(knobs["input_shape"]), stem, 3), stem
    for out, repeats in zip(stages, STAGE_REPEATS):
        half = out // 2
        dw_pw = conv_params(1, half, 3) + conv_params(half, half)  # every branch2 ends depthwise -> 1x1
        n += conv_params(1, c, 3) + 2 * conv_params(c, half) + dw_pw  # stride-2 unit: branch1, branch2
        n += (repeats - 1) * (conv_params(half, half) + dw_pw)  # stride 1: branch2 on half the channels
        c = out
    n += conv_params(c, last)
    return n + head_params(last, knobs)


@register(
    "shufflenet_v2",
    paper="https://arxiv.org/abs/1807.11164",
    knobs={"width": sorted(STAGE_CHANNELS)},
    min_input_size=lambda k: math.prod(_strides(k["small_input"])),
    estimate_params=_estimate_params,
    variants={f"shufflenet_v2_x{str(w).replace('.', '_')}": {"width": w} for w in sorted(STAGE_CHANNELS)},
)
def shufflenet_v2(*, width=1.0, input_shape=(224, 224, 3), num_classes=1000, include_top=True,
                  pooling=None, classifier_activation="softmax", dropout=0.0, small_input=None,
                  name="shufflenet_v2"):
    """ShuffleNet V2: stem, three stages of split/shuffle units (Table 5), 1x1 conv5, classifier."""
    stem_stride, pool_stride, *_ = _strides(small_input)
    stem, *stages, last = STAGE_CHANNELS[width]
    inputs = keras.Input(input_shape, name="input")
    x = conv_bn_act(inputs, stem, 3, strides=stem_stride, name="stem")
    x = layers.MaxPooling2D(3, pool_stride, padding="same", name="stem_pool")(x)
    for stage, (out_channels, repeats) in enumerate(zip(stages, STAGE_REPEATS), start=2):
        for unit in range(repeats):
            x = shufflenet_v2_unit(x, out_channels, strides=2 if unit == 0 else 1,
                                   name=f"stage{stage}_unit{unit}")
    x = conv_bn_act(x, last, 1, name="conv5")
    outputs = classifier_head(x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                              dropout=dropout, classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name)
