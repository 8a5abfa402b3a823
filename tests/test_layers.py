"""Layer tests: the conv factory, ChannelShuffle and GroupedConv2D (equality with Keras)."""

import numpy as np
import pytest
import keras
from keras import layers

from zoo.layers import CONV_TYPES, make_conv
from zoo.layers.factory import DEFAULT_DILATION


def single_layer_model(kind, in_channels=8, filters=16, kernel_size=3, size=9, **kwargs):
    inputs = keras.Input((size, size, in_channels))
    return keras.Model(inputs, make_conv(kind, filters, kernel_size, name="c", **kwargs)(inputs))


# --- conv factory -------------------------------------------------------------------


@pytest.mark.parametrize("use_bias", [False, True])
def test_factory_param_counts_follow_the_survey_formulas(use_bias):
    m, n, k, b = 8, 16, 3, int(use_bias)
    expected = {
        "standard": n * (m * k * k + b),
        "dilated": n * (m * k * k + b),
        "pointwise": n * (m + b),
        "grouped": n * (m // 4 * k * k + b),
        "depthwise": n * (k * k + b),                  # depth_multiplier = n / m = 2
        "separable": m * k * k + n * m + b * (m + n),  # C·K² + N·C + C + N with both biases
    }
    assert set(expected) == set(CONV_TYPES)
    for kind, count in expected.items():
        model = single_layer_model(kind, m, n, k, groups=4, use_bias=use_bias)
        assert model.count_params() == count, kind


def test_factory_layer_types_and_names():
    assert [type(l).__name__ for l in single_layer_model("separable").layers[1:]] == \
        ["DepthwiseConv2D", "Conv2D"]
    assert [l.name for l in single_layer_model("separable").layers[1:]] == ["c_dw", "c_pw"]
    assert single_layer_model("dilated").get_layer("c").dilation_rate == (DEFAULT_DILATION,) * 2
    assert single_layer_model("dilated", dilation=4).get_layer("c").dilation_rate == (4, 4)
    assert single_layer_model("pointwise", kernel_size=5).get_layer("c").kernel_size == (1, 1)
    grouped = single_layer_model("grouped", groups=2).get_layer("c")
    assert type(grouped).__name__ == "GroupedConv2D" and grouped.groups == 2
    assert single_layer_model("depthwise", filters=24).get_layer("c").depth_multiplier == 3
    fused = single_layer_model("separable_fused", use_bias=True)
    assert fused.count_params() == 8 * 9 + 16 * 8 + 16


def test_factory_output_shapes_with_stride():
    for kind in CONV_TYPES:
        if kind == "dilated":
            continue  # dilated convolutions cannot stride (checked below)
        y = single_layer_model(kind, strides=2, groups=2).output
        assert tuple(y.shape) == (None, 5, 5, 16), kind


@pytest.mark.parametrize("kwargs, words", [
    (dict(kind="winograd"), ["kind", "standard", "separable"]),
    (dict(filters=0), ["filters", "0"]),
    (dict(kernel_size=-1), ["kernel_size", "-1"]),
    (dict(strides=0), ["strides"]),
    (dict(kind="grouped", groups=1), ["groups", ">= 2"]),
    (dict(kind="grouped", groups=3), ["groups", "filters=16"]),
    (dict(kind="dilated", strides=2), ["strides", "dilation=2"]),
    (dict(padding="full"), ["padding", "same"]),
])
def test_factory_rejects_bad_arguments_before_building(kwargs, words):
    args = dict(kind="standard", filters=16, kernel_size=3, name="c") | kwargs
    with pytest.raises(ValueError) as err:
        make_conv(**args)
    for word in words:
        assert word in str(err.value)


def test_factory_rejects_channel_mismatch_when_applied():
    x = keras.Input((9, 9, 6))
    with pytest.raises(ValueError, match=r"multiple of the input channels \(6\)"):
        make_conv("depthwise", 16, name="c")(x)
    with pytest.raises(ValueError, match=r"input channels \(6\)"):
        make_conv("grouped", 16, groups=4, name="c")(x)
