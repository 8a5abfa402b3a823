"""zoo: a Keras 3 model zoo of lightweight convolutions, with accuracy-versus-cost benchmarks.

    >>> import zoo
    >>> model = zoo.build("shufflenet", groups=3)
    >>> zoo.cost.analyze(model).macs
"""

from zoo.registry import build, get_spec, list_models, model_knobs, register  # noqa: F401

__version__ = "0.1.0"


def __getattr__(name):
    # Heavier subpackages load on first use, so `import zoo` stays quick.
    import importlib

    if name in {"cost", "layers", "blocks", "models", "data", "training", "bench", "tune", "analysis"}:
        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
