"""ShuffleNet V2: torchvision parameter counts, the weightless channel split, knob errors."""

import numpy as np
import pytest
import keras

import zoo
from zoo.layers import ChannelSlice

# torchvision.models.shufflenet_v2_x*_* (num_classes=1000): sum of p.numel(), all trainable.
TORCHVISION_PARAMS = {"shufflenet_v2_x0_5": 1_366_792, "shufflenet_v2_x1_0": 2_278_604,
                      "shufflenet_v2_x1_5": 3_503_624, "shufflenet_v2_x2_0": 7_393_996}


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0"])
def test_trainable_params_match_torchvision(name):
    assert trainable_params(zoo.build(name)) == TORCHVISION_PARAMS[name]


def test_small_input_forward():
    model = zoo.build("shufflenet_v2_x0_5", input_shape=(32, 32, 3), num_classes=7)
    assert model.get_layer("conv5_relu").output.shape[1:] == (4, 4, 1024)
    assert model.get_layer("stage3_unit1_split_right").output.shape[-1] == 48
    out = model(np.random.rand(2, 32, 32, 3).astype("float32"))
    assert out.shape == (2, 7) and np.all(np.isfinite(out))


def test_channel_slice():
    x = np.arange(2 * 3 * 3 * 8, dtype="float32").reshape(2, 3, 3, 8)
    layer = ChannelSlice(2, 6, name="slice")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x[..., 2:6])
    assert layer.weights == [] and layer.compute_output_shape((None, 3, 3, 8)) == (None, 3, 3, 4)
    clone = ChannelSlice.from_config(layer.get_config())
    assert (clone.start, clone.stop) == (2, 6)
    with pytest.raises(ValueError, match="start"):
        ChannelSlice(4, 4)
    with pytest.raises(ValueError, match="exceeds"):
        ChannelSlice(2, 9)(x)


def test_invalid_width():
    with pytest.raises(ValueError, match=r"width=0.75; allowed: one of \[0.5, 1.0, 1.5, 2.0\]"):
        zoo.build("shufflenet_v2", width=0.75)
