"""SqueezeNet 1.0 / 1.1 and the paper's microarchitecture design space.

Paper: SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size
(Iandola et al., 2016) -- https://arxiv.org/abs/1602.07360

Ours versus the paper / torchvision:
- The fire-module widths come from the paper's metaparameters (Section 5: ``base_e``,
  ``incr_e``, ``freq``, ``pct_3x3``, ``squeeze_ratio``); the defaults reproduce Table 1
  (``PAPER_FIRE_TABLE``) and torchvision's parameter counts exactly (1,248,424 for 1.0 and
  1,235,496 for 1.1 at 1000 classes). Convolutions have biases, no batch norm.
- Max-pools use torchvision's ``ceil_mode=True`` arithmetic (a zero row/column is padded
  at the bottom/right when needed; the pooled values are ReLU outputs, so zeros never win
  over real values), so feature maps are 13x13 at 224x224 as in torchvision.
- ``bypass`` (Section 6): "simple" adds an identity shortcut around every fire module whose
  input and output widths are equal (fire3, 5, 7, 9 with the default metaparameters);
  "complex" also adds a 1x1 convolution (with bias) around the others (fire2, 4, 6, 8).
- Small inputs (shorter side < 128 px): conv1 uses stride 1 and "same" padding and the
  first max-pool uses stride 1, so the total stride drops from 16 to 4 (32x32 -> 8x8).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from zoo.blocks.fire import INITIALIZER as fire_init
from zoo.blocks.fire import fire
from zoo.common import (
    channel_axis,
    conv_params,
    input_channels,
    is_int,
    is_number,
    is_positive_int,
    round_channels,
    small_input_strides,
    smallest_side,
    spatial_size,
)
from zoo.registry import register

# (squeeze 1x1, expand 1x1, expand 3x3) of fire2..fire9 in the paper's Table 1 (SqueezeNet 1.0).
PAPER_FIRE_TABLE = (
    (16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
    (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256),
)

# version -> (conv1 filters, conv1 kernel, layout after conv1); "pool" = 3x3/2 max-pool,
# "fire" = the next fire module. 1.1 (torchvision) moves the pools earlier and shrinks conv1.
VERSIONS = {
    "1.0": (96, 7, ("pool", "fire", "fire", "fire", "pool", "fire", "fire", "fire", "fire", "pool", "fire")),
    "1.1": (64, 3, ("pool", "fire", "fire", "pool", "fire", "fire", "pool", "fire", "fire", "fire", "fire")),
}
BYPASS = ("none", "simple", "complex")
POOL_SIZE, POOL_STRIDE = 3, 2


def fire_widths(*, squeeze_ratio=0.125, pct_3x3=0.5, base_e=128, incr_e=128, freq=2, num_fire=8):
    """(squeeze, expand 1x1, expand 3x3) per fire module from the paper's metaparameters.

    e_i = base_e + incr_e * floor(i / freq), e_i,3x3 = pct_3x3 * e_i, s_i = squeeze_ratio * e_i
    (Section 5.1), each rounded half up to at least one channel.
    """
    widths = []
    for i in range(num_fire):
        expand = base_e + incr_e * (i // freq)
        e3 = round_channels(expand, pct_3x3, divisor=1)
        squeeze = round_channels(expand, squeeze_ratio, divisor=1)
        widths.append((squeeze, expand - e3, e3))
    return tuple(widths)


def _ceil_pool_size(side):
    return math.ceil((side - POOL_SIZE) / POOL_STRIDE) + 1


def _strides(small_input):
    """Strides of conv1 and of the three max-pools."""
    return small_input_strides([2, POOL_STRIDE, POOL_STRIDE, POOL_STRIDE], small_input)


def _final_side(side, *, version, small_input):
    """Spatial side after the feature extractor, or 0 if some layer gets less than its kernel."""
    _, kernel, _ = VERSIONS[version]
    conv1_stride, *pool_strides = _strides(small_input)
    if not small_input:  # conv1 is "valid" with stride 2; the small-input conv1 keeps the side
        side = (side - kernel) // conv1_stride + 1 if side >= kernel else 0
    for stride in pool_strides:
        if stride > 1:
            side = _ceil_pool_size(side) if side >= POOL_SIZE else 0
    return side


def _min_size(knobs):
    return smallest_side(lambda side: _final_side(side, version=knobs["version"], small_input=knobs["small_input"]))


def _widths(knobs):
    return fire_widths(**{k: knobs[k] for k in ("squeeze_ratio", "pct_3x3", "base_e", "incr_e", "freq")})


def _check(knobs):
    for squeeze, e1, e3 in _widths(knobs):
        if e1 < 1:
            return "pct_3x3", f"a share that leaves at least one 1x1 expand filter (expand width {e1 + e3})"
    return None


def _conv_params(cin, cout, kernel=1):
    return conv_params(cin, cout, kernel, bias=True, bn=False)  # SqueezeNet: biases, no BN


def _estimate_params(knobs):
    filters, kernel, _ = VERSIONS[knobs["version"]]
    n, c = _conv_params(input_channels(knobs["input_shape"]), filters, kernel), filters
    for squeeze, e1, e3 in _widths(knobs):
        n += _conv_params(c, squeeze) + _conv_params(squeeze, e1) + _conv_params(squeeze, e3, 3)
        if knobs["bypass"] == "complex" and c != e1 + e3:
            n += _conv_params(c, e1 + e3)
        c = e1 + e3
    return n + (_conv_params(c, knobs["num_classes"]) if knobs["include_top"] else 0)


def _max_pool_ceil(x, *, strides, name):
    """3x3 max-pool with torchvision's ceil_mode=True output size (inputs are >= 0)."""
    if strides == 1:
        return layers.MaxPooling2D(POOL_SIZE, 1, padding="same", name=name)(x)
    h, w = spatial_size(tuple(x.shape[1:]))
    pad_h = (_ceil_pool_size(h) - 1) * POOL_STRIDE + POOL_SIZE - h
    pad_w = (_ceil_pool_size(w) - 1) * POOL_STRIDE + POOL_SIZE - w
    if pad_h or pad_w:
        x = layers.ZeroPadding2D(((0, pad_h), (0, pad_w)), name=f"{name}_ceil_pad")(x)
    return layers.MaxPooling2D(POOL_SIZE, POOL_STRIDE, name=name)(x)


@register(
    "squeezenet",
    paper="https://arxiv.org/abs/1602.07360",
    knobs={
        "version": list(VERSIONS),
        "squeeze_ratio": (lambda v: is_number(v) and 0 < v <= 1,
                          "a number in (0, 1]: squeeze width / expand width (SR)"),
        "pct_3x3": (lambda v: is_number(v) and 0 < v < 1,
                    "a number in (0, 1): share of 3x3 filters in the expand layers"),
        "base_e": (is_positive_int, "an integer > 0: expand filters of the first fire module"),
        "incr_e": (lambda v: is_int(v) and v >= 0,
                   "an integer >= 0: expand filters added every `freq` fire modules"),
        "freq": (is_positive_int, "an integer > 0: fire modules between width increases"),
        "bypass": list(BYPASS),
    },
    check=_check,
    min_input_size=_min_size,
    estimate_params=_estimate_params,
    variants={"squeezenet1_0": {"version": "1.0"}, "squeezenet1_1": {"version": "1.1"}},
)
def squeezenet(*, version="1.0", squeeze_ratio=0.125, pct_3x3=0.5, base_e=128, incr_e=128, freq=2,
               bypass="none", input_shape=(224, 224, 3), num_classes=1000, include_top=True,
               pooling=None, classifier_activation="softmax", dropout=0.5, small_input=None,
               name="squeezenet"):
    """SqueezeNet: fire modules of 1x1 squeeze + 1x1/3x3 expand, conv10 + global-pool classifier."""
    widths = fire_widths(squeeze_ratio=squeeze_ratio, pct_3x3=pct_3x3, base_e=base_e, incr_e=incr_e, freq=freq)
    conv1_stride, *pool_strides = _strides(small_input)
    conv1_filters, conv1_kernel, layout = VERSIONS[version]
    inputs = keras.Input(input_shape, name="input")
    x = layers.Conv2D(conv1_filters, conv1_kernel, strides=conv1_stride,
                      padding="same" if small_input else "valid", kernel_initializer=fire_init,
                      name="conv1")(inputs)
    x = layers.ReLU(name="conv1_relu")(x)
    fires = iter(widths)
    fire_index, pool_index = 2, 1  # the paper numbers fire modules from 2 (conv1 is layer 1)
    for op in layout:
        if op == "pool":
            x = _max_pool_ceil(x, strides=pool_strides[pool_index - 1], name=f"pool{pool_index}")
            pool_index += 1
            continue
        squeeze, e1, e3 = next(fires)
        block = f"fire{fire_index}"
        y = fire(x, squeeze, e1, e3, name=block)
        in_channels = x.shape[channel_axis()]
        if bypass != "none" and in_channels == e1 + e3:
            y = layers.Add(name=f"{block}_bypass_add")([x, y])
        elif bypass == "complex":
            shortcut = layers.Conv2D(e1 + e3, 1, kernel_initializer=fire_init, name=f"{block}_bypass_conv")(x)
            y = layers.Add(name=f"{block}_bypass_add")([shortcut, y])
        x = y
        fire_index += 1

    if include_top:
        # The paper's classifier: conv10 (1x1, one filter per class) -> ReLU -> global average pool.
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        # torchvision: the final conv starts small (normal, std 0.01) so the ReLU head starts alive.
        x = layers.Conv2D(num_classes, 1, kernel_initializer=keras.initializers.RandomNormal(0.0, 0.01),
                          name="conv10")(x)
        x = layers.ReLU(name="conv10_relu")(x)
        x = layers.GlobalAveragePooling2D(name="head_pool")(x)
        if classifier_activation is not None:
            x = layers.Activation(classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="head_pool")(x)
    return keras.Model(inputs, x, name=name)
