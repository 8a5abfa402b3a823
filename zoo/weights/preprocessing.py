"""The input scaling a checkpoint expects, as the model's first layer (0-255 RGB in).

keras.applications calls this ``include_preprocessing``: with it every zoo model takes the
same input whatever its weights' source, and a saved model carries its scaling along.
"""

from __future__ import annotations

import numpy as np

from zoo.weights.catalog import IMAGENET_MEAN, IMAGENET_STD, PREPROCESSING

LAYER_NAME = "preprocessing"


def scale_offset(mode: str) -> tuple:
    """(scale, offset) of ``Rescaling`` for a mode: ``x * scale + offset``."""
    if mode == "tf":
        return 1.0 / 127.5, -1.0
    if mode == "torch":
        std, mean = np.array(IMAGENET_STD), np.array(IMAGENET_MEAN)
        return tuple(float(s) for s in 1.0 / (255.0 * std)), tuple(float(o) for o in -mean / std)
    raise ValueError(f"unknown preprocessing {mode!r}; known: {', '.join(map(repr, PREPROCESSING))}")


def mode_of(layer) -> str | None:
    """The mode a ``Rescaling`` layer implements, or None."""
    from keras import layers

    if not isinstance(layer, layers.Rescaling):
        return None
    for mode in PREPROCESSING:
        scale, offset = scale_offset(mode)
        if np.allclose(layer.scale, scale, rtol=1e-6) and np.allclose(layer.offset, offset, rtol=1e-6):
            return mode
    return None


def add_preprocessing(model, mode: str):
    """``model`` with ``Rescaling`` for ``mode`` in front (same layers and weights, no nesting)."""
    import keras
    from keras import layers, tree

    if len(model.inputs) != 1:
        raise ValueError(f"{model.name}: preprocessing needs a single-input model")
    scale, offset = scale_offset(mode)
    original = model.inputs[0]
    inputs = keras.Input(batch_shape=original.shape, dtype=original.dtype, name=original.name)
    scaled = layers.Rescaling(scale, offset, name=LAYER_NAME)(inputs)

    def call(layer, *args, **kwargs):  # the layers that read the input now read the scaled input
        args, kwargs = tree.map_structure(lambda t: scaled if t is inputs else t, (args, kwargs))
        return layer(*args, **kwargs)

    return keras.models.clone_model(model, input_tensors=inputs, clone_function=lambda layer: layer,
                                    call_function=call)
