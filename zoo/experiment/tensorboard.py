"""TensorBoard records of a suite: HParams for every run, Pareto plots as images.

Layout under ``<out>/tb/``: the experiment config (the union of all knobs as HParams,
the metrics top1/params/macs/latency_ms) at the top, one directory per run id holding
train_and_evaluate's per-epoch scalars plus this run's hparams and final metrics, and
``pareto/`` with the plots, one step per finished run.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

METRICS = (
    ("top1", "top-1 accuracy", "validation top-1 accuracy (fraction)"),
    ("top5", "top-5 accuracy", "validation top-5 accuracy (fraction); only with more than 10 classes"),
    ("params", "parameters", "trainable + non-trainable parameters"),
    ("macs", "MACs", "multiply-accumulates per image (zoo.cost)"),
    ("latency_ms", "latency (ms)", "median batch-1 latency"),
    ("throughput", "images/s", "inference throughput at the throughput batch"),
    ("train_seconds", "train seconds", "wall-clock training time"),
)
PARETO_DIR = "pareto"


def deploy_metrics(formats: Sequence[str] = ()) -> tuple[tuple[str, str, str], ...]:
    """HParams metrics of a suite's ``[run] deploy`` formats: TFLite top-1, size and latency."""
    from zoo.experiment.deploy import column

    return tuple(metric for fmt in formats for metric in (
        (column(fmt, "top1"), f"{fmt} TFLite top-1", f"top-1 of the {fmt} TFLite model on the eval split"),
        (column(fmt, "kb"), f"{fmt} TFLite KB", f"size of the {fmt} TFLite file"),
        (column(fmt, "ms"), f"{fmt} TFLite ms", f"median batch-1 latency of the {fmt} TFLite model")))


def hparam_value(value: Any) -> bool | int | float | str:
    """HParams take bool/int/float/str; anything else (None, lists) is shown as text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value) if isinstance(value, (list, tuple)) else str(value)


def _domain(values: Sequence[Any]):
    from tensorboard.plugins.hparams import api as hp

    distinct = sorted({hparam_value(v) for v in values}, key=lambda v: (str(type(v)), v))
    kinds = {type(v) for v in distinct}
    if len(kinds) == 1 and kinds <= {bool, int, float, str}:
        return hp.Discrete(distinct)
    return hp.Discrete([str(v) for v in distinct])


def write_experiment(tb_dir: Path, knob_values: Mapping[str, Sequence[Any]], formats: Sequence[str] = ()) -> None:
    """The top-level HParams config: every knob seen in the suite (plus model and seed); the
    metrics, with the TFLite ones of ``formats`` (the suite's ``[run] deploy``)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    hparams = [hp.HParam(name, _domain(values)) for name, values in knob_values.items()]
    metrics = [hp.Metric(tag, display_name=name, description=desc)
               for tag, name, desc in METRICS + deploy_metrics(formats)]
    Path(tb_dir).mkdir(parents=True, exist_ok=True)
    with tf.summary.create_file_writer(str(tb_dir)).as_default():
        hp.hparams_config(hparams=hparams, metrics=metrics)


def write_run(run_dir: Path, run_id: str, hparams: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
    """This run's hparams and its final metrics as scalars (step 0), in the run's directory."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    with tf.summary.create_file_writer(str(run_dir)).as_default() as writer:
        hp.hparams({k: hparam_value(v) for k, v in hparams.items()}, trial_id=run_id)
        from zoo.experiment.deploy import FORMATS

        for tag, _, _ in METRICS + deploy_metrics(FORMATS):
            if metrics.get(tag) is not None:
                tf.summary.scalar(tag, float(metrics[tag]), step=0)
        writer.flush()


def write_pareto_image(tb_dir: Path, png: bytes, step: int) -> None:
    """The Pareto plot as an image summary; ``step`` = number of finished runs."""
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[None]
    with tf.summary.create_file_writer(str(Path(tb_dir) / PARETO_DIR)).as_default() as writer:
        tf.summary.image("pareto/top1_vs_macs_and_latency", image, step=step,
                         description="top-1 against MACs (left) and batch-1 latency (right)")
        writer.flush()
