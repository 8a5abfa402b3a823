"""zoo: a Keras 3 model zoo of lightweight convolutions, with accuracy-versus-cost benchmarks.

    >>> import zoo
    >>> model = zoo.build("shufflenet", groups=3)
    >>> zoo.cost.analyze(model).macs

Importing ``zoo`` registers its serializable layers, so ``keras.saving.load_model`` reads
``.keras`` files of zoo models (``zoo.load_model`` does the same).
"""

import importlib
import os
import sys

# Quiet TensorFlow's C++ info/warning logs, which bury the zoo's own output (a few start-up
# lines ignore it since TF 2.19: tensorflow/tensorflow#100442). A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _cli_light() -> bool:
    """``zoo COMMAND --help`` prints argparse text and ``zoo pick`` reads a results table: neither
    needs Keras nor TensorFlow (seconds)."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    launched = (script == "zoo" or sys.argv[0].endswith(os.path.join("zoo", "__main__.py"))
                or getattr(sys, "orig_argv", [])[1:3] == ["-m", "zoo"])
    return launched and (sys.argv[1:2] == ["pick"] or any(arg in ("-h", "--help") for arg in sys.argv[1:]))


_REGISTRY_NAMES = {"build", "get_spec", "list_models", "model_knobs", "register"}
if not _cli_light():
    import zoo.layers  # noqa: E402, F401  (registers ChannelShuffle, GroupedConv2D, ... for loading)
    from zoo.registry import build, get_spec, list_models, model_knobs, register  # noqa: E402, F401

__version__ = "0.1.0"

_SUBPACKAGES = {"cost", "blocks", "models", "data", "training", "bench", "tune", "analysis", "common", "weights"}


def load_model(path, **kwargs):
    """``keras.saving.load_model`` with the zoo's layers and training objects registered.

    A path that is not a ``.keras`` archive (a truncated download, another format) raises a
    ValueError saying so, instead of Keras' "File not found".
    """
    import zipfile

    import keras

    import zoo.training  # noqa: F401  (its learning-rate schedules and optimizers are serializable)

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such model file: {path!r}")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a valid .keras file (a .keras file is the zip archive that "
                         "model.save('x.keras') writes; this one is damaged or of another format)")
    return keras.saving.load_model(path, **kwargs)


def __getattr__(name):
    # Heavier subpackages load on first use (zoo.cost, zoo.data, ...).
    if name in _SUBPACKAGES:
        return importlib.import_module(f"zoo.{name}")
    if name in _REGISTRY_NAMES:  # skipped above for a light CLI command (zoo.registry imports Keras)
        return getattr(importlib.import_module("zoo.registry"), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
