"""Post-training quantization to TFLite/LiteRT, and what the result does: top-1 and batch-1 latency.

    >>> from zoo.perf.quantize import export, calibration_images, input_kind, evaluate_tflite, time_tflite
    >>> calib = calibration_images(train, 200, inputs=input_kind(model))   # a seeded sample of a split
    >>> flatbuffer = export(model, "int8", calibration=calib)              # float32 in and out
    >>> evaluate_tflite(flatbuffer, test, inputs=input_kind(model))        # {"top1", "examples", "size_bytes"}
    >>> time_tflite(flatbuffer, threads=1)                                 # {"latency_ms", "latency_p90_ms", ...}
    >>> files = export_modes(model, MODES, calibration=calib)             # {mode: flatbuffer}, traced once

Every mode converts the BN-folded model with ``tf.lite.TFLiteConverter`` (``MODES``):

- ``float32``: no optimization; the reference the others are compared with.
- ``float16``: weights stored as float16 (half the file); CPU kernels compute in float32.
- ``dynamic-range``: weights int8, activations float32, quantized on the fly by the kernels.
- ``int8``: full-integer. Weights int8, per output channel by default (the converter's own
  default; ``per_channel=False`` gives one scale per tensor), activations int8 with ranges
  measured on calibration images. Only int8 kernels are allowed (``TFLITE_BUILTINS_INT8``), so
  an op without one fails the conversion instead of silently staying float.

Input and output stay float32 by default, in every mode: the converter adds a quantize op
after the input and a dequantize op before the output, so an int8 file is a drop-in for the
float one (same preprocessing, same output). ``io="int8"`` or ``"uint8"`` (int8 mode only)
makes them integer for integer-only pipelines; ``TFLiteRunner`` then quantizes float input
and dequantizes the output with the tensors' own scale and zero point.

What a model takes (``INPUT_KINDS``): ``"imagenet"``, the data pipeline's output (ImageNet
mean/std normalised, what zoo models train on), or ``"0-255"`` RGB when the model starts with
the preprocessing ``Rescaling`` layer (a zoo checkpoint). ``input_kind(model)`` tells which,
and calibration and evaluation preprocess images that way.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from io import StringIO

import numpy as np

from zoo.common import invalid

MODES = ("float32", "float16", "dynamic-range", "int8")
IO_TYPES = ("float32", "int8", "uint8")
INPUT_KINDS = ("imagenet", "0-255")
# The TF guide asks for "around 100-500" representative samples; 200 calibrates the small
# models here in seconds.
DEFAULT_CALIBRATION_IMAGES = 200

# Per-tensor weight scales have no public converter switch, only this private attribute
# (TFLiteConverterBase in tensorflow/lite/python/lite.py, checked against TF 2.21). It also
# applies to dynamic-range mode. Used here and nowhere else.
_PER_TENSOR_FLAG = "_experimental_disable_per_channel"


def input_kind(model) -> str:
    """"0-255" when the model scales its input itself (a zoo preprocessing ``Rescaling`` first,
    as in a checkpoint or with ``include_preprocessing=True``), else "imagenet"."""
    from zoo.checkpoint import input_scaling

    return "imagenet" if input_scaling(model) is None else "0-255"


def model_batches(dataset, inputs: str, batch_size: int = 256):
    """``(float32 images, int32 labels)`` numpy batches of ``dataset`` in file order, as a model of
    that input kind takes them: the data pipeline's own output (``training=False``), ImageNet-
    normalised for "imagenet"; for "0-255" its [0, 1] floats times 255, rounded back to the exact
    pixel values. Streamed datasets stream here too."""
    if inputs not in INPUT_KINDS:
        raise invalid("model_batches", "inputs", inputs, f"one of {list(INPUT_KINDS)}")
    for x, y in dataset.pipeline(batch_size, training=False, normalize=inputs == "imagenet"):
        x = x.numpy()
        yield (np.round(x * 255.0) if inputs == "0-255" else x).astype(np.float32), y.numpy()


def calibration_images(dataset, count: int = DEFAULT_CALIBRATION_IMAGES, *, inputs: str = "imagenet",
                       seed: int = 0) -> np.ndarray:
    """``count`` images of ``dataset`` (an ``ImageDataset``; all of them if it has fewer), drawn
    with ``seed`` and kept in file order, preprocessed for ``inputs`` (``model_batches``).

    A seeded sample rather than the first ``count``: a split is stored class by class, so its
    first images would all be of one class and calibrate the ranges of that class alone."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise invalid("calibration_images", "count", count, "an integer >= 1")
    n = min(count, dataset.num_examples)
    chosen = np.zeros(dataset.num_examples, bool)
    chosen[np.random.default_rng(seed).permutation(dataset.num_examples)[:n]] = True
    kept, start = [], 0
    for x, _ in model_batches(dataset, inputs):
        kept.append(x[chosen[start:start + len(x)]])
        start += len(x)
    return np.concatenate(kept)


def export(model, mode: str = "float32", *, calibration=None, per_channel: bool = True, io: str = "float32",
           fold: bool = True) -> bytes:
    """Convert ``model`` to a TFLite flatbuffer in ``mode`` (see the module docstring).

    Args:
        mode: one of ``MODES``.
        calibration: int8 only, and required there: float32 images (N, H, W, 3) already
            preprocessed for the model (``calibration_images``), or an ``ImageDataset`` (then
            ``DEFAULT_CALIBRATION_IMAGES`` of it, preprocessed for ``input_kind(model)``).
        per_channel: False quantizes each weight tensor with one scale (int8, dynamic-range).
        io: "float32" (default: a drop-in for the float model), or "int8"/"uint8" input and
            output (int8 mode only).
        fold: fold BatchNorm into the convolutions first (``zoo.perf.fold_batchnorm``).

    Raises ValueError for a bad option and, naming the layer where the converter's message
    allows, for an op the format cannot convert.
    """
    return export_modes(model, (mode,), calibration=calibration, per_channel=per_channel, io=io, fold=fold)[mode]


def export_modes(model, modes=MODES, *, calibration=None, per_channel: bool = True, io: str = "float32",
                 fold: bool = True) -> dict[str, bytes]:
    """``{mode: flatbuffer}`` for several modes, folding and tracing the model once (the traced
    SavedModel is about half of one conversion's time). Options as in ``export``; ``per_channel``
    applies to int8 and dynamic-range, ``io`` and ``calibration`` to int8."""
    import tempfile

    modes = tuple(modes)
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise invalid("export", "mode", bad[0] if bad else modes, f"one of {list(MODES)}")
    if io not in IO_TYPES:
        raise invalid("export", "io", io, f"one of {list(IO_TYPES)}")
    if io != "float32" and "int8" not in modes:
        raise ValueError(f"export: io={io!r} needs mode='int8' (only a fully quantized model has integer "
                         f"input and output), got mode={_one(modes)}")
    if not per_channel and not {"int8", "dynamic-range"} & set(modes):
        raise ValueError(f"export: per_channel=False applies to mode 'int8' or 'dynamic-range', got {_one(modes)}")
    images = None
    if "int8" in modes:
        images = _calibration_array(calibration, model)
    elif calibration is not None:
        raise ValueError(f"export: calibration applies to mode='int8' only, got mode={_one(modes)}")

    from zoo.perf.fold import count_batchnorm, fold_batchnorm

    served = fold_batchnorm(model) if fold and count_batchnorm(model) else model
    with tempfile.TemporaryDirectory() as folder:
        _write_saved_model(served, folder)
        return {mode: _convert(folder, served, mode, images, per_channel, io)
                for mode in modes}


def _one(modes) -> str:
    return repr(modes[0]) if len(modes) == 1 else repr(list(modes))


def _write_saved_model(served, folder: str) -> None:
    """What ``TFLiteConverter.from_keras_model`` does for a Keras 3 model (TF 2.21), done once:
    an inference-mode (training=False) endpoint with the model's input signature."""
    import functools

    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(served)
    signature = [tf.TensorSpec(x.shape, dtype=x.dtype, name=x.name) for x in served.inputs]
    archive.add_endpoint("serve", functools.partial(served.__call__, training=False), signature)
    archive.write_out(folder, verbose=False)


def _convert(folder: str, served, mode: str, images, per_channel: bool, io: str) -> bytes:
    import tensorflow as tf

    from zoo.perf.export import conversion_error, native_output_dropped

    converter = tf.lite.TFLiteConverter.from_saved_model(folder)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        converter.representative_dataset = lambda: ([images[i:i + 1]] for i in range(len(images)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io != "float32":
            converter.inference_input_type = converter.inference_output_type = getattr(tf, io)
    if not per_channel and mode in ("int8", "dynamic-range"):
        if not hasattr(converter, _PER_TENSOR_FLAG):
            raise ValueError(f"per-tensor quantization needs the converter's private {_PER_TENSOR_FLAG}, which "
                             f"TensorFlow {tf.__version__} no longer has (checked against TF 2.21)")
        setattr(converter, _PER_TENSOR_FLAG, True)
    try:
        with native_output_dropped(), contextlib.redirect_stdout(StringIO()), warnings.catch_warnings():
            # The converter warns that float inputs have no quantization statistics: float I/O is the design.
            warnings.simplefilter("ignore", UserWarning)
            return converter.convert()
    except Exception as err:  # ConverterError and friends: name the layer in one line
        raise conversion_error(err, served, f"TFLite {mode}") from err


def _calibration_array(calibration, model) -> np.ndarray:
    from zoo.data import ImageDataset

    if calibration is None:
        raise ValueError("export: mode='int8' needs calibration images (calibration=...; "
                         "--calibration DATASET[:SPLIT] on the command line)")
    if isinstance(calibration, ImageDataset):
        calibration = calibration_images(calibration, inputs=input_kind(model))
    images = np.asarray(calibration, dtype=np.float32)
    want = tuple(model.input_shape[1:])
    if images.ndim != 4 or len(images) == 0 or tuple(images.shape[1:]) != want:
        raise ValueError(f"export: calibration images have shape {images.shape}, the model takes (N, "
                         f"{', '.join(map(str, want))}); load the dataset with image_size={want[0]}")
    return images


# --- measuring an exported file -------------------------------------------------------------------


def evaluate_tflite(model, dataset, *, inputs: str = "imagenet", batch_size: int = 1,
                    threads: int | None = None, xnnpack: bool = True) -> dict:
    """Top-1 of a TFLite model (bytes or a path) on every image of ``dataset`` (an ``ImageDataset``
    at the model's input size), run by the interpreter ``batch_size`` images per call.

    Returns ``{"top1": fraction correct, "examples": n, "size_bytes": file size}``."""
    from zoo.perf.tflite import TFLiteRunner

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise invalid("evaluate_tflite", "batch_size", batch_size, "an integer >= 1")
    runner = TFLiteRunner(model, num_threads=threads, xnnpack=xnnpack)
    want = tuple(runner.input_shape[1:])
    if tuple(dataset.image_shape) != want:
        raise ValueError(f"evaluate_tflite: the dataset's images are {dataset.image_shape}, the model takes {want}; "
                         f"load it with image_size={want[0]}")
    correct = 0
    for images, labels in model_batches(dataset, inputs, max(batch_size, 256)):
        for start in range(0, len(images), batch_size):
            out = runner(images[start:start + batch_size])
            if out.shape[-1] != dataset.num_classes:
                raise ValueError(f"evaluate_tflite: the model has {out.shape[-1]} outputs, the dataset "
                                 f"{dataset.num_classes} classes")
            correct += int((out.argmax(-1) == labels[start:start + batch_size]).sum())
    return {"top1": correct / dataset.num_examples, "examples": dataset.num_examples,
            "size_bytes": runner.size_bytes}


def time_tflite(model, *, threads: int = 1, warmup: int = 10, iters: int = 50, xnnpack: bool = True,
                seed: int = 0) -> dict:
    """Batch-1 latency of a TFLite model (bytes or a path) in the interpreter (XNNPACK unless
    ``xnnpack=False``), on ``threads`` threads: ``warmup`` untimed calls, then ``iters`` timed.

    Returns ``{"latency_ms": median, "latency_p90_ms", "threads", "iters", "xnnpack"}``."""
    from zoo.perf.tflite import TFLiteRunner

    for knob, value, least in (("threads", threads, 1), ("warmup", warmup, 0), ("iters", iters, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise invalid("time_tflite", knob, value, f"an integer >= {least}")
    runner = TFLiteRunner(model, num_threads=threads, xnnpack=xnnpack)
    x = np.random.default_rng(seed).normal(size=(1, *runner.input_shape[1:])).astype(np.float32)
    for _ in range(warmup):
        runner(x)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        runner(x)
        times.append(time.perf_counter() - start)
    ms = 1000.0 * np.asarray(times)
    return {"latency_ms": float(np.median(ms)), "latency_p90_ms": float(np.percentile(ms, 90)),
            "threads": threads, "iters": iters, "xnnpack": xnnpack}
