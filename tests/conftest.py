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
