"""AlexNet, the original two-GPU network: the first grouped convolutions.

Paper: ImageNet Classification with Deep Convolutional Neural Networks (Krizhevsky, Sutskever
and Hinton, NeurIPS 2012) -- https://papers.nips.cc/paper/4824 (no arXiv version).

Ours versus the paper:
- ``groups=2`` (default) reproduces the two-tower split: conv2, conv4 and conv5 only see
  the half of their input on the same GPU (grouped convs); conv3 and the FC layers connect
  across both. 96/256/384/384/256 filters, FC 4096-4096 (``fc_units``), dropout 0.5 before
  fc6 and fc7. 60,965,224 parameters at 224x224 / 1000 classes (the paper: "60 million").
  ``groups=1`` is the single-tower network with the same widths.
- Local response normalisation is left out (not in keras.layers, and later work found it
  of little use); ``norm="bn"`` puts BatchNorm after every conv instead (convs lose their bias).
- conv1 pads 2 pixels as torchvision does, so 224x224 inputs give the paper's 55/27/13/6
  feature maps (the paper's 224 only works with 227 unpadded).
- Small inputs (shorter side < 128 px): conv1 becomes 5x5 stride 1 ("same" padding), since
  an 11x11/4 stem would leave a 32x32 image with one pixel; the three overlapping 3x3/2
  max-pools stay, so 32x32 ends at 3x3 and 64x64 at 7x7 (total stride 8 instead of 32).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from zoo.blocks.conv_bn_act import conv_bn_act
from zoo.common import conv_params, input_channels, is_positive_int, smallest_side, spatial_size
from zoo.registry import register

# (name, filters, kernel, stride, grouped across the two GPUs, 3x3/2 max-pool after) -- Figure 2.
FEATURES = (
    ("conv1", 96, 11, 4, False, True),
    ("conv2", 256, 5, 1, True, True),
    ("conv3", 384, 3, 1, False, False),
    ("conv4", 384, 3, 1, True, False),
    ("conv5", 256, 3, 1, True, True),
)
CONV1_PADDING = 2
SMALL_CONV1 = (5, 1)  # kernel, stride of conv1 for small inputs
POOL_SIZE, POOL_STRIDE = 3, 2


def _grouped_channels():
    """Input and output channels of every grouped conv: a valid ``groups`` divides them all."""
    channels = []
    for i, (_, filters, _, _, grouped, _) in enumerate(FEATURES):
        if grouped:
            channels += [FEATURES[i - 1][1], filters]
    return channels


GROUP_CHOICES = [g for g in range(1, math.gcd(*_grouped_channels()) + 1)
                 if math.gcd(*_grouped_channels()) % g == 0]


def _final_side(side, small_input):
    """Spatial side after pool5, or 0 when a layer would get less than its kernel."""
    for _, _, kernel, stride, _, pool in FEATURES:
        if kernel == 11:
            if small_input:
                kernel, stride = SMALL_CONV1  # "same" padding: the side is kept
            else:
                side += 2 * CONV1_PADDING
                side = (side - kernel) // stride + 1 if side >= kernel else 0
        if pool:
            side = (side - POOL_SIZE) // POOL_STRIDE + 1 if side >= POOL_SIZE else 0
    return side


def _estimate_params(knobs):
    bn, c = knobs["norm"] == "bn", input_channels(knobs["input_shape"])
    n = 0
    for layer_name, filters, kernel, _, grouped, _ in FEATURES:
        if layer_name == "conv1" and knobs["small_input"]:
            kernel = SMALL_CONV1[0]
        n += conv_params(c, filters, kernel, groups=knobs["groups"] if grouped else 1, bias=not bn, bn=bn)
        c = filters
    if not knobs["include_top"]:
        return n
    h, w = (_final_side(side, knobs["small_input"]) for side in spatial_size(knobs["input_shape"]))
    fc = knobs["fc_units"]
    return n + sum(conv_params(a, b, bias=True, bn=False) for a, b in
                   ((h * w * c, fc), (fc, fc), (fc, knobs["num_classes"])))


@register(
    "alexnet",
    paper="https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks",
    knobs={
        "groups": GROUP_CHOICES,
        "fc_units": (is_positive_int, "an integer > 0: width of fc6 and fc7"),
        "norm": [None, "bn"],
    },
    min_input_size=lambda k: smallest_side(lambda side: _final_side(side, k["small_input"])),
    estimate_params=_estimate_params,
)
def alexnet(*, groups=2, fc_units=4096, norm=None, input_shape=(224, 224, 3), num_classes=1000,
            include_top=True, pooling=None, classifier_activation="softmax", dropout=0.5,
            small_input=None, name="alexnet"):
    """AlexNet: five convs (conv2/4/5 grouped), overlapping max-pools, FC 4096-4096 classifier."""
    bn = norm == "bn"
    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for layer_name, filters, kernel, stride, grouped, pool in FEATURES:
        padding = "same"
        if layer_name == "conv1":
            if small_input:
                kernel, stride = SMALL_CONV1
            else:
                x = layers.ZeroPadding2D(CONV1_PADDING, name="conv1_pad")(x)
                padding = "valid"
        x = conv_bn_act(x, filters, kernel, strides=stride, groups=groups if grouped else 1,
                        padding=padding, use_bias=not bn, bn=bn, name=layer_name)
        if pool:
            x = layers.MaxPooling2D(POOL_SIZE, POOL_STRIDE, name=f"{layer_name}_pool")(x)

    if include_top:
        x = layers.Flatten(name="flatten")(x)
        for fc in ("fc6", "fc7"):
            if dropout:
                x = layers.Dropout(dropout, name=f"{fc}_dropout")(x)
            x = layers.Dense(fc_units, activation="relu", name=fc)(x)
        x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="head_pool")(x)
    return keras.Model(inputs, x, name=name)
