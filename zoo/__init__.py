"""zoo: a Keras 3 model zoo of lightweight convolutions, with accuracy-versus-cost benchmarks.

    >>> import zoo
    >>> model = zoo.build("shufflenet", groups=3)
    >>> zoo.cost.analyze(model).macs

Importing ``zoo`` registers its serializable layers, so ``keras.saving.load_model`` reads
``.keras`` files of zoo models (``zoo.load_model`` does the same).
"""

import importlib
import os

# Quiet TensorFlow's C++ info/warning logs, which bury the zoo's own output (a few start-up
# lines ignore it since TF 2.19: tensorflow/tensorflow#100442). A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zoo.layers  # noqa: E402, F401  (registers ChannelShuffle, GroupedConv2D, ... for loading)
from zoo.registry import build, get_spec, list_models, model_knobs, register  # noqa: E402, F401

__version__ = "0.1.0"

_SUBPACKAGES = {"cost", "blocks", "models", "data", "training", "bench", "tune", "analysis", "common", "weights"}


def load_model(path, **kwargs):
    """``keras.saving.load_model`` with the zoo's layers and training objects registered."""
    import keras

    import zoo.training  # noqa: F401  (its learning-rate schedules and optimizers are serializable)

    return keras.saving.load_model(path, **kwargs)


def __getattr__(name):
    # Heavier subpackages load on first use (zoo.cost, zoo.data, ...).
    if name in _SUBPACKAGES:
        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
