"""SqueezeNet: torchvision parameter counts, the design-space metaparameters, bypass variants."""

import numpy as np
import pytest

import zoo
from zoo.models.squeezenet import PAPER_FIRE_TABLE, fire_widths

# torchvision.models.squeezenet1_0 / squeezenet1_1 (num_classes=1000): sum of p.numel().
TORCHVISION_PARAMS = {"squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496}


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_param_count_matches_torchvision(name):
    model = zoo.build(name)
    assert model.count_params() == TORCHVISION_PARAMS[name]
    # torchvision's ceil_mode pools: the last fire module sees 13x13 at 224x224.
    assert tuple(model.get_layer("fire9_concat").output.shape[1:]) == (13, 13, 512)


def test_default_metaparameters_reproduce_paper_table():
    assert fire_widths() == PAPER_FIRE_TABLE
    # SR=0.25 and 75% 3x3 filters (points of the paper's Figure 6).
    assert fire_widths(squeeze_ratio=0.25, pct_3x3=0.75)[0] == (32, 32, 96)


def test_bypass_parameters():
    plain = zoo.build("squeezenet1_0").count_params()
    assert zoo.build("squeezenet1_0", bypass="simple").count_params() == plain
    complex_ = zoo.build("squeezenet1_0", bypass="complex")
    # 1x1 conv (with bias) around fire2, 4, 6, 8, where the widths change.
    extra = sum(cin * cout + cout for cin, cout in ((96, 128), (128, 256), (256, 384), (384, 512)))
    assert complex_.count_params() == plain + extra
    names = {layer.name for layer in complex_.layers}
    assert {"fire2_bypass_conv", "fire3_bypass_add", "fire9_bypass_add"} <= names
    assert "fire3_bypass_conv" not in names


def test_small_input_stride_and_forward():
    model = zoo.build("squeezenet1_1", input_shape=(32, 32, 3), num_classes=7, bypass="simple")
    assert tuple(model.get_layer("fire9_concat").output.shape[1:3]) == (8, 8)
    out = model(np.random.rand(2, 32, 32, 3).astype("float32"))
    assert out.shape == (2, 7) and np.allclose(np.sum(out, axis=1), 1, atol=1e-5)


def test_include_top_false_pooling():
    model = zoo.build("squeezenet1_0", include_top=False, pooling="max", input_shape=(64, 64, 3))
    assert model.output_shape == (None, 512)


@pytest.mark.parametrize("knobs, message", [
    ({"version": "1.2"}, "version"),
    ({"bypass": "dense"}, "bypass"),
    ({"pct_3x3": 1.0}, "pct_3x3"),
    ({"squeeze_ratio": 0}, "squeeze_ratio"),
    ({"freq": 0}, "freq"),
    ({"input_shape": (16, 16, 3), "small_input": False}, "input_shape"),
])
def test_invalid_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        zoo.build("squeezenet", **knobs)
