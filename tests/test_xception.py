"""Xception: keras.applications equality, the valid-padded stem's minimum size, the knobs."""

import numpy as np
import pytest
import keras

import zoo

KERAS_PARAMS = 22_910_480


def test_default_matches_keras_applications_count():
    assert zoo.build("xception").count_params() == keras.applications.Xception(weights=None).count_params() \
        == KERAS_PARAMS


def test_same_function_as_keras_applications(same_function_as):
    """Layer for layer: keras' weights load in order and give the same features (71x71: keras' minimum)."""
    ref = keras.applications.Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
    ours = zoo.build("xception", include_top=False, input_shape=(71, 71, 3), small_input=False)
    expected = same_function_as(ref, ours, (1, 71, 71, 3))
    assert expected.shape == (1, 3, 3, 2048) and np.mean(expected > 0) > 0.05


@pytest.mark.parametrize("size, small_input, out", [(7, False, 1), (5, True, 1), (32, None, 4), (64, None, 8)])
def test_minimum_and_small_input_sizes(size, small_input, out):
    model = zoo.build("xception", input_shape=(size, size, 3), small_input=small_input, include_top=False,
                      width=0.25, middle_blocks=0)
    assert model.output_shape == (None, out, out, 512)  # 2048 x 0.25


@pytest.mark.parametrize("size, small_input", [(6, False), (4, True)])
def test_too_small_input_is_rejected(size, small_input):
    with pytest.raises(ValueError, match="input_shape"):
        zoo.build("xception", input_shape=(size, size, 3), small_input=small_input)


def test_small_input_strides():
    model = zoo.build("xception", input_shape=(32, 32, 3), width=0.25, middle_blocks=1)
    assert model.get_layer("stem1_conv").strides == (1, 1)
    assert model.get_layer("entry1_pool").strides == (1, 1)
    assert model.get_layer("entry2_pool").strides == (2, 2)


def test_middle_blocks_and_width():
    small = dict(input_shape=(32, 32, 3), num_classes=7)
    eight = zoo.build("xception", width=0.5, **small)
    two = zoo.build("xception", width=0.5, middle_blocks=2, **small)
    per_block = (eight.count_params() - two.count_params()) / 6
    c = 368  # round_channels(728 * 0.5)
    assert per_block == 3 * (9 * c + c * c + 4 * c)  # 3 x (SeparableConv2D + BN)
    assert sum(layer.name.startswith("middle") and layer.name.endswith("_add") for layer in two.layers) == 2
    assert two.count_params() < zoo.build("xception", middle_blocks=2, **small).count_params()
