"""AlexNet: the two-GPU parameter count, grouped-conv arithmetic, small-input stem, knob errors."""

import numpy as np
import pytest

import zoo


def grouped_saving(groups):
    """Weights saved by splitting conv2, conv4, conv5 into ``groups``: k*k*in*out*(1 - 1/g)."""
    dense = 5 * 5 * 96 * 256 + 3 * 3 * 384 * 384 + 3 * 3 * 384 * 256
    return dense - dense // groups


@pytest.fixture(scope="module")
def two_tower():
    return zoo.build("alexnet")


def test_paper_network(two_tower):
    assert two_tower.count_params() == 60_965_224
    assert two_tower.get_layer("conv5_pool").output.shape[1:] == (6, 6, 256)
    assert tuple(two_tower.get_layer("conv2_conv").kernel.shape) == (5, 5, 48, 256)


@pytest.mark.parametrize("groups", [1, 4])
def test_groups_param_difference(two_tower, groups):
    other = zoo.build("alexnet", groups=groups)
    assert two_tower.count_params() - other.count_params() == grouped_saving(groups) - grouped_saving(2)


def test_small_input_and_bn():
    model = zoo.build("alexnet", input_shape=(32, 32, 3), num_classes=7, norm="bn", fc_units=64)
    assert tuple(model.get_layer("conv1_conv").kernel.shape) == (5, 5, 3, 96)
    assert model.get_layer("conv5_pool").output.shape[1:] == (3, 3, 256)
    assert model.get_layer("conv1_conv").bias is None
    out = model(np.random.rand(2, 32, 32, 3).astype("float32"))
    assert out.shape == (2, 7) and np.all(np.isfinite(out))


@pytest.mark.parametrize("knobs, message", [
    ({"groups": 3}, r"groups=3; allowed: one of \[1, 2, 4, 8, 16, 32\]"),
    ({"fc_units": 0}, "fc_units"),
    ({"norm": "lrn"}, "norm"),
    ({"input_shape": (62, 62, 3), "small_input": False}, "input_shape"),
])
def test_invalid_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        zoo.build("alexnet", **knobs)
