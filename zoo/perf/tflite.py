"""TFLite / LiteRT export of a zoo model and a runner for the exported file.

TF 2.21 still converts with ``tf.lite.TFLiteConverter``. We convert the BN-folded model with
``from_keras_model``, which for Keras 3 goes through ``model.export`` (a SavedModel with a
dynamic batch axis); ``from_concrete_functions`` on a Keras 3 model keeps its weights as
resource variables that the interpreter reads uninitialized (NaN or garbage outputs,
measured on TF 2.21). The interpreter comes from
``ai_edge_litert`` (LiteRT, the successor package) when it is installed, else from
``tf.lite.Interpreter`` (deprecated in favour of LiteRT but still shipped with TF 2.21),
so no extra dependency is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def export_tflite(model, path: str | Path | None = None, *, fold: bool = True) -> bytes:
    """Convert ``model`` (float32, inference mode) to a TFLite flatbuffer; write it to ``path`` if given."""
    import tensorflow as tf

    import contextlib
    import io

    from zoo.perf.fold import fold_batchnorm

    served = fold_batchnorm(model) if fold else model
    with contextlib.redirect_stdout(io.StringIO()):  # model.export prints its endpoints
        flatbuffer = tf.lite.TFLiteConverter.from_keras_model(served).convert()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(flatbuffer)
    return flatbuffer


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter  # LiteRT, where installed
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


class TFLiteRunner:
    """Run an exported model: ``runner(images) -> numpy``, one batch size at a time.

    Args:
        model: the flatbuffer (bytes) or a path to a ``.tflite`` file.
        num_threads: interpreter threads; use the same count as TF's intra-op threads to compare.
    """

    def __init__(self, model: bytes | str | Path, num_threads: int | None = None):
        if isinstance(model, (str, Path)):
            if not Path(model).is_file():
                raise FileNotFoundError(f"no such TFLite file: {str(model)!r}")
            model = Path(model).read_bytes()
        if not isinstance(model, (bytes, bytearray)):
            raise TypeError(f"TFLiteRunner: expected bytes or a path, got {type(model).__name__}")
        import warnings

        with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice: LiteRT is used when installed
            warnings.simplefilter("ignore", UserWarning)
            self.interpreter = _interpreter_class()(model_content=bytes(model), num_threads=num_threads)
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._batch = None

    def __call__(self, images) -> np.ndarray:
        images = np.ascontiguousarray(images, dtype=np.float32)
        if images.shape[0] != self._batch:  # resizing re-plans the graph: only on a batch change
            self.interpreter.resize_tensor_input(self._input, images.shape)
            self.interpreter.allocate_tensors()
            self._batch = images.shape[0]
        self.interpreter.set_tensor(self._input, images)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output)
