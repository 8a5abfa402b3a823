"""Deployment formats of a trained run: its top-1, file size and latency as users will ship it.

A suite's ``[run] deploy = ["float32", "int8"]`` measures every finished run in each listed
TFLite format. What is measured is the run's checkpoint (``checkpoints/<run id>.keras``: the
trained network with its input scaling inside, 0-255 RGB in), the file a user takes away and
converts, not the in-memory training graph. Per format: top-1 through the TFLite interpreter
(XNNPACK, batch 1) on every image of the eval split, the flatbuffer's size, and batch-1
latency on the same thread count TensorFlow used for the Keras latency. int8 is calibrated on
a seeded sample of the *train* split (never the eval images it is scored on).

Because the checkpoint is the input, rows trained before ``deploy`` was listed get their
columns filled in from their checkpoints on the next ``zoo bench`` (no retraining).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# zoo.perf.quantize.MODES, spelled out so that parsing a suite does not import TensorFlow, and
# int8 with one scale per weight tensor: the naive quantization MobileNet v1 is known to suffer from.
FORMATS = ("float32", "float16", "dynamic-range", "int8", "int8-per-tensor")
PER_TENSOR = "int8-per-tensor"
DEPLOY_KEYS = {
    "deploy": f"list of TFLite formats every finished run is also measured in (top-1, size, batch-1 "
              f"latency through the interpreter), from {list(FORMATS)} (default [])",
    "deploy_calibration_images": "int8: train images that calibrate the activation ranges (default 200)",
}
DEFAULT_CALIBRATION_IMAGES = 200
MEASURES = ("top1", "kb", "ms")


def column(fmt: str, measure: str) -> str:
    """``("int8", "top1")`` -> ``"tflite_int8_top1"``: the results.csv column."""
    return f"tflite_{fmt.replace('-', '_')}_{measure}"


COLUMNS = tuple(column(f, m) for f in FORMATS for m in MEASURES)
NUMERIC = {name: float for name in COLUMNS}


def parse_formats(values: Mapping[str, Any], where: str, path: Path) -> tuple[tuple[str, ...], int]:
    """``(formats, calibration images)`` from a ``[run]`` table; errors name the file and what is allowed."""
    from zoo.experiment.specfile import positive_int

    formats = values.get("deploy", [])
    if (not isinstance(formats, list) or not all(isinstance(f, str) for f in formats)
            or len(set(formats)) != len(formats) or not set(formats) <= set(FORMATS)):
        raise ValueError(f"{path}: invalid {where} deploy={formats!r}; allowed: a list of distinct formats "
                         f"from {list(FORMATS)}, e.g. [\"float32\", \"int8\"]")
    images = values.get("deploy_calibration_images", DEFAULT_CALIBRATION_IMAGES)
    positive_int(images, f"{where} deploy_calibration_images", path)
    return tuple(formats), images


def missing(row: Mapping[str, Any], formats: Sequence[str]) -> list[str]:
    """The listed formats a row has no top-1 for yet."""
    return [f for f in formats if row.get(column(f, "top1")) is None]


def measure_checkpoint(path: str | Path, formats: Sequence[str], train, val, *, calibration_images: int,
                       timing=None) -> dict[str, Any]:
    """The deploy columns of one run: convert the checkpoint at ``path`` to each format once
    (one fold and trace for all), score each on ``val``, time each at batch 1.

    ``train`` gives the int8 calibration sample; ``timing`` (LatencySettings) the warm-up and
    iteration counts of the latency (the suite's own, so both latencies are timed alike)."""
    from zoo import load_model
    from zoo.experiment.provenance import intra_op_threads
    from zoo.perf.quantize import calibration_images as sample, evaluate_tflite, export_modes, input_kind, time_tflite

    model = load_model(path)
    inputs = input_kind(model)
    int8 = {"int8", PER_TENSOR} & set(formats)
    calibration = sample(train, calibration_images, inputs=inputs) if int8 else None
    modes = [f for f in formats if f != PER_TENSOR]
    flatbuffers = export_modes(model, modes, calibration=calibration if "int8" in modes else None) if modes else {}
    if PER_TENSOR in formats:
        flatbuffers[PER_TENSOR] = export_modes(model, ("int8",), calibration=calibration, per_channel=False)["int8"]
    threads = intra_op_threads()
    warmup, iters = (10, 50) if timing is None else (timing.latency_warmup, timing.latency_iters)
    row: dict[str, Any] = {}
    for fmt, flatbuffer in flatbuffers.items():
        scored = evaluate_tflite(flatbuffer, val, inputs=inputs, threads=threads)
        timed = time_tflite(flatbuffer, threads=threads, warmup=warmup, iters=iters)
        row[column(fmt, "top1")] = scored["top1"]
        row[column(fmt, "kb")] = len(flatbuffer) / 1024
        row[column(fmt, "ms")] = timed["latency_ms"]
    return row


def describe(formats: Sequence[str], calibration_images: int) -> str:
    """The results.md header line for the deploy columns."""
    scales = "per-channel weights" + (" (int8-per-tensor: one scale per weight tensor)" if PER_TENSOR in formats
                                      else "")
    calibrated = (f"; int8: {scales}, int8 activations, float32 input/output, calibrated on {calibration_images} "
                  "seeded train images" if {"int8", PER_TENSOR} & set(formats) else "")
    return (f"{', '.join(formats)} TFLite from each run's checkpoint (BatchNorm folded): top-1 through the "
            f"interpreter (XNNPACK, batch 1) on the whole eval split, file size, batch-1 latency (median) on "
            f"TensorFlow's thread count{calibrated}")


def measure_run(path: str | Path, formats: Sequence[str], splits, *, calibration_images: int, timing=None,
                label: str = "") -> dict[str, Any]:
    """``measure_checkpoint`` for a finished run, which stays recorded when a format fails: the
    error is printed (naming the run, the format's converter message and the layer where it
    names one) and that run's deploy columns stay empty, to be measured again on the next
    ``zoo bench``."""
    import sys

    if not formats:
        return {}
    try:
        return measure_checkpoint(path, formats, splits.train, splits.val, calibration_images=calibration_images,
                                  timing=timing)
    except (ValueError, RuntimeError, OSError) as err:
        print(f"zoo bench: warning: {label or path}: deploy formats {list(formats)} not measured: {err}",
              file=sys.stderr)
        return {}
