"""CIFAR ResNet: the paper's parameter counts, 6n+2 depths, the option-A shortcut layer."""

import numpy as np
import pytest
import keras

import zoo
from zoo.layers import ShortcutA

# Section 4.2 / Table 6 of the paper, in millions (keras counts BN moving statistics too).
PAPER_PARAMS_M = {"resnet20": 0.27, "resnet32": 0.46, "resnet56": 0.85}


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS_M))
def test_paper_param_counts(name):
    model = zoo.build(name)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert round(trainable / 1e6, 2) == PAPER_PARAMS_M[name]
    n = (zoo.model_knobs(name)["depth"].default - 2) // 6
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) + 1 == 6 * n + 2  # every weighted layer is a conv, plus the dense: option A adds none


def test_cifar_defaults_and_map_sizes():
    model = zoo.build("resnet20", include_top=False)
    assert model.input_shape == (None, 32, 32, 3)
    assert model.get_layer("stage1_unit2_relu").output.shape[1:] == (32, 32, 16)
    assert model.get_layer("stage2_unit0_relu").output.shape[1:] == (16, 16, 32)
    assert model.output_shape == (None, 8, 8, 64)
    assert zoo.build("resnet20").output_shape == (None, 10)
    assert zoo.build("resnet20", input_shape=(224, 224, 3), include_top=False).output_shape == (None, 56, 56, 64)


@pytest.mark.parametrize("depth", [8, 14, 26])
def test_any_6n_plus_2_depth(depth):
    model = zoo.build("resnet", depth=depth, width=0.5)
    n = (depth - 2) // 6
    assert sum(isinstance(layer, keras.layers.Add) for layer in model.layers) == 3 * n


def test_width_scales_stage_channels():
    model = zoo.build("resnet20", width=2, include_top=False)
    assert model.output_shape == (None, 8, 8, 128)
    assert model.count_params() > 3 * zoo.build("resnet20", include_top=False).count_params()


def test_shortcut_a_subsamples_and_zero_pads():
    x = np.arange(2 * 4 * 4 * 2, dtype="float32").reshape(2, 4, 4, 2)
    layer = ShortcutA(6, 2, name="sc")
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 2, 2, 6) and not layer.weights
    np.testing.assert_array_equal(y[..., 2:4], x[:, ::2, ::2, :])
    assert not y[..., :2].any() and not y[..., 4:].any()
    clone = ShortcutA.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert layer.compute_output_shape((None, 5, 5, 2)) == (None, 3, 3, 6)


def test_shortcut_a_rejects_narrowing_and_bad_args():
    with pytest.raises(ValueError, match="only widens"):
        ShortcutA(2, 1)(np.zeros((1, 2, 2, 4), "float32"))
    with pytest.raises(ValueError, match="filters"):
        ShortcutA(0)
