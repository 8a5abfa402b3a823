"""convnet: one macro-architecture, every convolution type; parameters follow the survey's ordering."""

import pytest
import keras

import zoo
from zoo.models.convnet import CONV_KINDS

SMALL = dict(input_shape=(32, 32, 3), num_classes=7)


@pytest.fixture(scope="module")
def models():
    return {kind: zoo.build("convnet", conv=kind, **SMALL) for kind in CONV_KINDS}


def body_params(model):
    """Parameters of the swappable units only (stem and head are the same for every kind)."""
    return sum(layer.count_params() for layer in model.layers if layer.name.startswith("stage"))


def test_every_kind_builds_with_the_same_shapes(models):
    for kind, model in models.items():
        assert model.output_shape == (None, 7), kind
        assert model.get_layer("stage3_unit1_relu").output.shape[1:] == (8, 8, 256), kind


def test_param_ordering(models):
    params = {kind: body_params(model) for kind, model in models.items()}
    assert params["standard"] == params["dilated"]  # dilation costs no parameters
    assert params["standard"] > params["grouped"] > params["separable"]
    assert params["pointwise"] < params["standard"] / 4


def test_grouped_divides_parameters_by_groups(models):
    conv = models["grouped"].get_layer("stage2_unit1_conv")
    assert conv.groups == 4 and conv.kernel.shape == (3, 3, 128 // 4, 128)


def test_dilated_keeps_strided_units_undilated(models):
    model = models["dilated"]
    assert model.get_layer("stage2_unit0_conv").dilation_rate == (1, 1)
    assert model.get_layer("stage2_unit1_conv").dilation_rate == (2, 2)
    assert zoo.build("convnet", conv="dilated", dilation=4, **SMALL).get_layer(
        "stage1_unit0_conv").dilation_rate == (4, 4)


def test_separable_and_pointwise_layers(models):
    names = {layer.name: layer for layer in models["separable"].layers}
    assert isinstance(names["stage1_unit0_conv_dw"], keras.layers.DepthwiseConv2D)
    pointwise = models["pointwise"]
    assert pointwise.get_layer("stage3_unit0_reduce_conv").filters == 256 // 4
    assert zoo.build("convnet", conv="pointwise", reduction=2, **SMALL).get_layer(
        "stage3_unit0_reduce_conv").filters == 128


def test_small_input_policy():
    big = zoo.build("convnet", include_top=False)
    assert big.output_shape == (None, 14, 14, 256)  # total stride 16
    small = zoo.build("convnet", include_top=False, input_shape=(64, 64, 3))
    assert small.get_layer("stem_conv").strides == (1, 1) and small.get_layer("stem_pool").strides == (1, 1)
    assert small.output_shape == (None, 16, 16, 256)  # total stride 4


def test_groups_must_divide_every_layer():
    with pytest.raises(ValueError, match=r"groups=3.*\[32, 64, 128, 256\]"):
        zoo.build("convnet", conv="grouped", groups=3)
    # width 0.25: channels 8/16/32/64, so 16 no longer divides the stem's 8.
    with pytest.raises(ValueError, match="groups=16"):
        zoo.build("convnet", conv="grouped", groups=16, width=0.25)
    assert zoo.build("convnet", conv="grouped", groups=8, width=0.25, **SMALL).count_params() > 0
