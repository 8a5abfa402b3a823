"""MobileNet v1 and v2: keras.applications equality, the paper's numbers, width/stride knobs."""

import numpy as np
import pytest
import keras

import zoo
from zoo.cost import analyze

APPS = {"mobilenet": keras.applications.MobileNet, "mobilenet_v2": keras.applications.MobileNetV2}
KERAS_PARAMS = {"mobilenet": 4_253_864, "mobilenet_v2": 3_538_984}


@pytest.fixture(scope="module")
def default_models():
    return {name: zoo.build(name) for name in APPS}


@pytest.mark.parametrize("name", sorted(APPS))
def test_default_matches_keras_applications_count(name, default_models):
    ours = default_models[name].count_params()
    assert ours == APPS[name](weights=None).count_params() == KERAS_PARAMS[name]


@pytest.mark.parametrize("name, width", [("mobilenet", 0.5), ("mobilenet_v2", 0.35), ("mobilenet_v2", 1.4)])
def test_width_matches_keras_applications_alpha(name, width):
    ref = APPS[name](weights=None, alpha=width)
    assert zoo.build(name, width=width).count_params() == ref.count_params()


@pytest.mark.parametrize("name", sorted(APPS))
def test_same_function_as_keras_applications(name, same_function_as):
    """Layer for layer: keras' weights load in order and give the same features."""
    ref = APPS[name](weights=None, include_top=False, input_shape=(96, 96, 3))
    ours = zoo.build(name, include_top=False, input_shape=(96, 96, 3), small_input=False)
    expected = same_function_as(ref, ours, (2, 96, 96, 3))
    assert 0 < np.mean(expected) and np.mean((expected > 0) & (expected < 6)) > 0.05  # not all clipped


@pytest.mark.parametrize("name", sorted(APPS))
def test_params_grow_with_width(name):
    counts = [zoo.build(name, width=w, input_shape=(32, 32, 3)).count_params() for w in (0.25, 0.75, 1.4)]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)


def test_paper_mult_adds(default_models):
    # Table 4 of the v1 paper: 569M mult-adds, 4.2M params (Table 8 of v2: 300M, 3.4M).
    assert round(analyze(default_models["mobilenet"]).macs / 1e6) == 569
    assert round(analyze(default_models["mobilenet_v2"]).macs / 1e6) in (300, 301)


def test_conv_mobilenet_is_table_4():
    """Full 3x3 convolutions instead of depthwise-separable: 29.3M params, 4866M mult-adds."""
    model = zoo.build("mobilenet", conv="standard")
    assert round(model.count_params() / 1e6, 1) == 29.3
    assert abs(analyze(model).macs / 1e6 - 4866) < 2
    assert not any(isinstance(layer, keras.layers.DepthwiseConv2D) for layer in model.layers)


def test_small_input_keeps_stem_resolution():
    model = zoo.build("mobilenet", input_shape=(32, 32, 3), include_top=False)
    assert model.get_layer("stem_conv").strides == (1, 1)
    assert model.get_layer("stage2_unit0_dw_dw").strides == (1, 1)
    assert model.get_layer("stage3_unit0_dw_dw").strides == (2, 2)
    assert model.output_shape == (None, 4, 4, 1024)
    v2 = zoo.build("mobilenet_v2", input_shape=(64, 64, 3), include_top=False)
    assert v2.get_layer("stage2_unit0_dw_dw").strides == (1, 1)
    assert v2.output_shape == (None, 8, 8, 1280)


@pytest.mark.parametrize("name, output_stride, size", [("mobilenet", 16, 14), ("mobilenet", 8, 28),
                                                        ("mobilenet_v2", 16, 14)])
def test_output_stride_dilates_instead_of_striding(name, output_stride, size, default_models):
    model = zoo.build(name, output_stride=output_stride)
    assert model.get_layer("head_pool").input.shape[1:3] == (size, size)
    assert model.count_params() == default_models[name].count_params()
    rates = {layer.dilation_rate for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)}
    assert rates == ({(1, 1), (2, 2)} if output_stride == 16 else {(1, 1), (2, 2), (4, 4)})


def test_depth_multiplier():
    model = zoo.build("mobilenet", depth_multiplier=2, input_shape=(32, 32, 3))
    assert model.get_layer("stage1_unit0_dw_dw").depth_multiplier == 2
    assert model.count_params() > zoo.build("mobilenet", input_shape=(32, 32, 3)).count_params()


def test_v2_last_conv_and_residuals():
    assert zoo.build("mobilenet_v2", width=0.5).get_layer("last_conv").filters == 1280  # not narrowed
    assert zoo.build("mobilenet_v2", width=1.4).get_layer("last_conv").filters == 1792
    model = zoo.build("mobilenet_v2", input_shape=(32, 32, 3))
    # Stride-1 blocks that keep their width: 1 + 2 + 3 + 2 + 2 of Table 2's repeats.
    assert sum(isinstance(layer, keras.layers.Add) for layer in model.layers) == 10
    names = {layer.name for layer in model.layers}
    assert "stage1_unit0_expand_conv" not in names and "stage2_unit0_expand_conv" in names  # t=1 first row


def test_v2_expansion_knob():
    model = zoo.build("mobilenet_v2", expansion=4, input_shape=(32, 32, 3))
    assert model.get_layer("stage2_unit1_expand_conv").filters == 24 * 4
    assert model.count_params() < zoo.build("mobilenet_v2", input_shape=(32, 32, 3)).count_params()
