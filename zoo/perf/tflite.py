"""TFLite / LiteRT export of a zoo model and a runner for the exported file.

TF 2.21 still converts with ``tf.lite.TFLiteConverter``. ``zoo.perf.quantize`` converts the
BN-folded model the way ``from_keras_model`` does for Keras 3 (an inference-mode SavedModel
with a dynamic batch axis, then ``from_saved_model``), once for all the modes asked for;
``from_concrete_functions`` on a Keras 3 model keeps its weights as resource variables that
the interpreter reads uninitialized (NaN or garbage outputs, measured on TF 2.21). The
quantized modes are described there. The interpreter comes from
``ai_edge_litert`` (LiteRT, the successor package) when it is installed, else from
``tf.lite.Interpreter`` (deprecated in favour of LiteRT but still shipped with TF 2.21),
so no extra dependency is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def export_tflite(model, path: str | Path | None = None, *, fold: bool = True, mode: str = "float32",
                  **options) -> bytes:
    """Convert ``model`` (inference mode) to a TFLite flatbuffer; write it to ``path`` if given.

    ``mode`` and ``options`` (``calibration``, ``per_channel``, ``io``) are those of
    ``zoo.perf.quantize.export``; the default is float32. The file is written atomically."""
    from zoo.perf.export import write_output
    from zoo.perf.quantize import export

    flatbuffer = export(model, mode, fold=fold, **options)
    if path is not None:
        write_output(path, flatbuffer)
    return flatbuffer


def _interpreter_module():
    try:
        from ai_edge_litert import interpreter  # LiteRT, where installed
    except ImportError:
        import tensorflow as tf

        interpreter = tf.lite
    return interpreter


class TFLiteRunner:
    """Run an exported model: ``runner(images) -> numpy``, one batch size at a time.

    Float images go in whatever the file's input type: for an integer-input file (``io="int8"``
    or ``"uint8"``) they are quantized with the input tensor's scale and zero point, and an
    integer output is dequantized, so every mode reads the same; arrays already of the
    file's integer input type pass through unchanged.

    Args:
        model: the flatbuffer (bytes) or a path to a ``.tflite`` file.
        num_threads: interpreter threads; use the same count as TF's intra-op threads to compare.
        xnnpack: False runs the reference kernels without the XNNPACK delegate the
            interpreter applies by default (float and int8 alike).
    """

    def __init__(self, model: bytes | str | Path, num_threads: int | None = None, *, xnnpack: bool = True):
        if isinstance(model, (str, Path)):
            if not Path(model).is_file():
                raise FileNotFoundError(f"no such TFLite file: {str(model)!r}")
            model = Path(model).read_bytes()
        if not isinstance(model, (bytes, bytearray)):
            raise TypeError(f"TFLiteRunner: expected bytes or a path, got {type(model).__name__}")
        import warnings

        module = _interpreter_module()
        options = {}
        if not xnnpack:  # LiteRT has OpResolverType beside Interpreter; tf.lite under experimental
            resolvers = getattr(module, "OpResolverType", None) or module.experimental.OpResolverType
            options["experimental_op_resolver_type"] = resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice: LiteRT is used when installed
            warnings.simplefilter("ignore", UserWarning)
            self.interpreter = module.Interpreter(model_content=bytes(model), num_threads=num_threads, **options)
        self.size_bytes = len(model)
        inp, out = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()[0]
        self._input, self._output = inp["index"], out["index"]
        self.input_dtype, self.output_dtype = np.dtype(inp["dtype"]), np.dtype(out["dtype"])
        self._in_quant, self._out_quant = inp["quantization"], out["quantization"]
        self.input_shape = tuple(int(s) if s > 0 else None for s in inp["shape_signature"])
        self._batch = None

    def _to_input(self, images) -> np.ndarray:
        images = np.asarray(images)
        if self.input_dtype == np.float32 or images.dtype == self.input_dtype:
            return np.ascontiguousarray(images, dtype=self.input_dtype)
        scale, zero_point = self._in_quant
        info = np.iinfo(self.input_dtype)
        q = np.round(images.astype(np.float32) / scale) + zero_point
        return np.ascontiguousarray(np.clip(q, info.min, info.max).astype(self.input_dtype))

    def __call__(self, images) -> np.ndarray:
        images = self._to_input(images)
        if images.shape[0] != self._batch:  # resizing re-plans the graph: only on a batch change
            self.interpreter.resize_tensor_input(self._input, images.shape)
            self.interpreter.allocate_tensors()
            self._batch = images.shape[0]
        self.interpreter.set_tensor(self._input, images)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self._output)
        if self.output_dtype != np.float32:
            scale, zero_point = self._out_quant
            out = (out.astype(np.float32) - zero_point) * np.float32(scale)
        return out
