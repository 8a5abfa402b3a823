"""ONNX and OpenVINO IR export through Keras' own ``model.export``, and a runner for each.

    >>> zoo.perf.export_onnx(model, "m.onnx")          # OnnxRunner("m.onnx", num_threads=2)(images)
    >>> zoo.perf.export_openvino(model, "m.xml")       # writes m.xml and m.bin; OpenVINORunner("m.xml")

On the TensorFlow backend Keras 3.15 (``keras/src/export/onnx.py``, ``openvino.py``) traces the
model's serving function and hands it to tf2onnx (so ONNX needs the packages ``tf2onnx`` and
``onnx``) or to ``openvino.convert_model`` (``openvino``); ONNX Runtime (``onnxruntime``) runs
the ONNX file. All four are the ``deploy`` extra: ``pip install -e '.[deploy]'``. Both exports
get a dynamic batch axis and an input named "images", as the TFLite export does, and, by
default, the BN-folded model (the same function; runtimes without conv+BN fusion gain).

Where Keras' path needs help:

- ``model.export`` refuses a functional model that was never called unless it gets an
  ``input_signature``; we always pass one.
- tf2onnx does not raise on an op it cannot convert: it logs "Tensorflow op [...] is not
  supported" and writes a file that ONNX Runtime then refuses to load. We collect those log
  records during the export and raise instead, naming the layer.
- OpenVINO's CPU plugin computes in bfloat16 by default on CPUs with AVX512-BF16 (errors of
  1e-3 to 6e-3 against Keras measured on a 2-core EPYC), so ``OpenVINORunner`` asks for f32
  unless told otherwise.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import tempfile
import warnings
from io import StringIO
from pathlib import Path

import numpy as np

INPUT_NAME = "images"
NEEDS = {"ONNX": ("tf2onnx", "onnx"), "OpenVINO": ("openvino",), "ONNX Runtime": ("onnxruntime",)}


def require(fmt: str) -> None:
    """Raise ModuleNotFoundError naming the missing packages of ``fmt`` (a key of ``NEEDS``)."""
    missing = [name for name in NEEDS[fmt] if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(f"{fmt} needs the package(s) {', '.join(missing)}, not installed here; "
                                  f"install them with: pip install -e '.[deploy]'")


def _signature(model):
    import keras

    if len(model.inputs) != 1:
        raise ValueError(f"{model.name}: export takes single-input models, this one has {len(model.inputs)}")
    return [keras.InputSpec(shape=model.input_shape, dtype="float32", name=INPUT_NAME)]


class _Unsupported(logging.Handler):
    """Collects tf2onnx's "... is not supported" error records."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        message = record.getMessage()
        if "not supported" in message or "Unsupported ops" in message:
            self.messages.append(message)


def export_onnx(model, path: str | Path | None = None, *, fold: bool = True) -> bytes:
    """Convert ``model`` to ONNX (float32, dynamic batch) with ``model.export(format="onnx")``;
    write it to ``path`` (atomically) if given. Raises ValueError naming the layer of an op
    tf2onnx cannot convert, ModuleNotFoundError when tf2onnx/onnx are missing."""
    from zoo.perf.export import conversion_error, native_output_dropped, write_output
    from zoo.perf.fold import count_batchnorm, fold_batchnorm

    require("ONNX")
    served = fold_batchnorm(model) if fold and count_batchnorm(model) else model
    signature = _signature(served)
    catcher = _Unsupported()
    logger = logging.getLogger("tf2onnx")  # its records come here instead of to stderr
    saved = logger.handlers, logger.propagate
    logger.handlers, logger.propagate = [catcher], False
    try:
        with tempfile.TemporaryDirectory() as tmp, _quiet(), native_output_dropped():
            target = Path(tmp) / "model.onnx"
            served.export(str(target), format="onnx", verbose=False, input_signature=signature)
            data = target.read_bytes()
    except Exception as err:  # a converter failure, whatever its type: name the layer in one line
        raise conversion_error(err, served, "ONNX") from err
    finally:
        logger.handlers, logger.propagate = saved
    if catcher.messages:
        raise conversion_error(RuntimeError("\n".join(catcher.messages)), served, "ONNX")
    if path is not None:
        write_output(path, data)
    return data


def export_openvino(model, path: str | Path, *, fold: bool = True) -> Path:
    """Convert ``model`` to OpenVINO IR with ``model.export(format="openvino")``: ``path`` (.xml)
    and the weights beside it (.bin), each written atomically (the .bin first). Returns ``path``."""
    from zoo.perf.export import conversion_error, native_output_dropped, write_output
    from zoo.perf.fold import count_batchnorm, fold_batchnorm

    require("OpenVINO")
    path = Path(path)
    if path.suffix != ".xml":
        raise ValueError(f"OpenVINO IR is an .xml file (with an .bin beside it), got {str(path)!r}")
    served = fold_batchnorm(model) if fold and count_batchnorm(model) else model
    signature = _signature(served)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "model.xml"
        try:
            with _quiet(), native_output_dropped():
                served.export(str(target), format="openvino", verbose=False, input_signature=signature)
        except Exception as err:  # a converter failure, whatever its type: name the layer in one line
            raise conversion_error(err, served, "OpenVINO") from err
        # The .xml names its weights file relative to itself: rename both together.
        write_output(path.with_suffix(".bin"), target.with_suffix(".bin").read_bytes())
        write_output(path, target.read_bytes())
    return path


@contextlib.contextmanager
def _quiet():
    """Keras' export prints its endpoints; tf2onnx's numpy-2 patch warns."""
    with contextlib.redirect_stdout(StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


class OnnxRunner:
    """Run an ONNX file (bytes or a path) with ONNX Runtime on the CPU: ``runner(images) -> numpy``."""

    def __init__(self, model: bytes | str | Path, num_threads: int | None = None):
        require("ONNX Runtime")
        import onnxruntime as ort

        if isinstance(model, (str, Path)):
            if not Path(model).is_file():
                raise FileNotFoundError(f"no such ONNX file: {str(model)!r}")
            model = str(model)
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._input = self.session.get_inputs()[0].name

    def __call__(self, images) -> np.ndarray:
        return self.session.run(None, {self._input: np.ascontiguousarray(images, dtype=np.float32)})[0]


class OpenVINORunner:
    """Run an OpenVINO IR (.xml path) on the CPU: ``runner(images) -> numpy``.

    ``precision="f32"`` by default: the CPU plugin would otherwise pick bf16 where the CPU has it."""

    def __init__(self, path: str | Path, num_threads: int | None = None, precision: str = "f32"):
        require("OpenVINO")
        import openvino as ov

        if not Path(path).is_file():
            raise FileNotFoundError(f"no such OpenVINO IR file: {str(path)!r}")
        config = {"INFERENCE_PRECISION_HINT": precision}
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = num_threads
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)

    def __call__(self, images) -> np.ndarray:
        return np.asarray(self.compiled(np.ascontiguousarray(images, dtype=np.float32))[0])
