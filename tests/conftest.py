"""Test settings: TensorFlow backend, quiet logs, fixed seeds, shared-data fixture."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared image folders (``ZOO_DATA_DIR``); tests that need them skip when absent."""
    root = os.environ.get("ZOO_DATA_DIR")
    if not root or not Path(root, "cifar10").is_dir():
        pytest.skip("ZOO_DATA_DIR with the shared cifar10/ and tiny-imagenet-10/ folders is not set")
    return Path(root)


@pytest.fixture
def same_function_as():
    """``check(ref, ours, batch_shape)``: load ``ref``'s weights into ``ours`` in order (1-D ones,
    BatchNorm's, moved away from 0/1 so a mix-up would show), run both on one random batch and
    compare; returns ``ref``'s output for further checks."""
    import numpy as np

    def check(ref, ours, batch_shape, tolerance=1e-4):
        rng = np.random.default_rng(0)
        weights = [w if w.ndim > 1 else rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in ref.get_weights()]
        ref.set_weights(weights)
        ours.set_weights(weights)
        x = rng.normal(size=batch_shape).astype("float32")
        expected = keras.ops.convert_to_numpy(ref(x))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)), expected, rtol=tolerance, atol=tolerance)
        return expected

    return check


@pytest.fixture(scope="session")
def colour_folders():
    """``make(root)``: a 3-class image folder at ``root/tiny`` (train 12, test 6 noisy solid-colour
    16 px PNGs per class), the tiny dataset the runner and cluster tests train on."""
    import numpy as np
    from PIL import Image

    def make(root):
        rng = np.random.default_rng(0)
        for split, count in (("train", 12), ("test", 6)):
            for label, colour in enumerate(((200, 40, 40), (40, 200, 40), (40, 40, 200))):
                folder = root / "tiny" / split / f"class{label}"
                folder.mkdir(parents=True)
                for i in range(count):
                    pixels = np.clip(np.array(colour) + rng.normal(0, 40, (16, 16, 3)), 0, 255)
                    Image.fromarray(pixels.astype("uint8")).save(folder / f"{i}.png")
        return root

    return make
