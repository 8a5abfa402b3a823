"""A model ready to serve on TensorFlow: BN folded, traced once, called without Keras overhead.

``InferenceModel(model)`` folds BatchNorm (``zoo.perf.fold``), wraps the forward pass in one
``tf.function`` whose input signature leaves the batch axis ``None`` (so batch 1, 32 or 7
reuse one graph: no retracing), and keeps its concrete function: calling that directly
skips ``tf.function``'s argument matching and Keras' ``__call__`` (input checks, masking,
name scopes), which at batch 1 is a noticeable share of a small model's time.
"""

from __future__ import annotations

import numpy as np

from zoo.perf.fold import fold_batchnorm


class InferenceModel:
    """``model``'s inference-mode forward pass as one reusable graph; returns numpy.

    Args:
        model: a functional Keras model with a fixed per-image input shape.
        fold: fold BatchNormalization into the preceding convs first (default True).

    Attributes:
        model: the (folded) Keras model actually run.
        function: the ``tf.function`` (batch axis ``None``, ``jit_compile=False``).
        concrete: its one concrete function; ``__call__`` calls it directly.
    """

    def __init__(self, model, *, fold: bool = True):
        import keras

        if keras.backend.backend() != "tensorflow":
            raise ValueError(f"InferenceModel: needs the TensorFlow backend, not {keras.backend.backend()!r}")
        import tensorflow as tf

        shape = tuple(model.input_shape[1:])
        if any(s is None for s in shape):
            raise ValueError(f"InferenceModel: the model's per-image input shape {shape} must be fully "
                             "known; build it with a fixed input_shape")
        self.model = fold_batchnorm(model) if fold else model
        self.input_shape = shape
        served = self.model

        # jit_compile=False: XLA on a 2-core CPU is slower than Grappler + oneDNN's fused kernels.
        @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32)], jit_compile=False,
                     autograph=False)
        def forward(images):
            return served(images, training=False)

        self.function = forward
        self.concrete = forward.get_concrete_function()

    def __call__(self, images) -> np.ndarray:
        """Predictions for a float32 batch (numpy or tensor) as numpy."""
        import tensorflow as tf

        return self.concrete(tf.convert_to_tensor(images, tf.float32)).numpy()

    def tracing_count(self) -> int:
        """How often the graph was traced (1 once built, whatever batch sizes were served)."""
        return self.function.experimental_get_tracing_count()
