"""Train and measure one configuration: the one path every suite row and every claim measurement takes.

Seed first (the initial weights come from it), build through the registry with the data's
input shape and class count, train with ``zoo.training.train_and_evaluate``, then time the
trained model. The same run id therefore gives the same weights and the same top-1 whether
``zoo bench`` or ``zoo claims --measure`` trained it. With a ``distribution``
(``zoo.experiment.distribute``) the model is built, compiled and trained in its scope; the
latency is timed outside it, on this process's copy of the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.experiment.configs import RunConfig, builder_knobs


def train_configuration(cfg: RunConfig, splits, recipe, shape, *, log_dir: str | Path | None = None,
                        progress: bool = True, latency=None, weights_path: str | None = None,
                        backup: str | Path | None = None, distribution=None) -> tuple[Any, dict[str, Any]]:
    """The trained model and its metrics (top1, top5, val_loss, train_top1, train_seconds,
    train_images_per_second, epochs, train_steps, and latency_ms/latency_p90_ms/throughput with
    ``latency`` settings). Metrics are None-free only for a run that finished; see ``diverged``.
    ``backup``: the run's per-epoch backup folder (``zoo.resume``), resumed from when it holds one."""
    import contextlib

    import keras

    from zoo.training import set_determinism

    keras.backend.clear_session()
    set_determinism(cfg.seed)  # before building: the initial weights come from the seed too
    knobs = builder_knobs(cfg.knobs, shape, splits.num_classes)
    log = None if log_dir is None else str(log_dir)
    with distribution.scope() if distribution is not None else contextlib.nullcontext():
        model, metrics = _build_and_train(cfg, splits, recipe, knobs, log, progress, weights_path, backup)
    row = {"top1": metrics.get("top1"), "top5": metrics.get("top5"), "val_loss": metrics.get("val_loss"),
           "train_top1": metrics.get("train_top1"), "train_seconds": metrics.get("train_seconds"),
           "train_images_per_second": metrics.get("images_per_second"), "epochs": metrics.get("epochs"),
           "train_steps": metrics.get("train_steps"),
           "status": metrics.get("status", "ok"), "reason": metrics.get("reason", "")}
    if cfg.weights:
        row["head_top1"] = metrics.get("head_top1")
    if latency is not None and row["status"] == "ok":
        from zoo.experiment.latency import measure_settings
        from zoo.experiment.provenance import device_label

        row.update(measure_settings(model, latency), device=device_label())
    return model, row


def _build_and_train(cfg, splits, recipe, knobs, log, progress, weights_path, backup):
    from zoo.registry import build
    from zoo.training import (
        build_with_precision,
        fine_tune,
        train_and_evaluate,
        with_new_head,
    )

    if cfg.weights:  # fine-tuning: the pretrained backbone with its input scaling, a new head
        backbone = build_with_precision(recipe.precision, lambda: build(
            cfg.model, **{**knobs, "include_top": False, "pooling": "avg"}, weights=weights_path or cfg.weights,
            include_preprocessing=True))
        model = build_with_precision(recipe.precision,
                                     lambda: with_new_head(backbone, splits.num_classes, name=cfg.model))
        metrics = fine_tune(model, backbone, splits.train, splits.val, recipe, seed=cfg.seed, log_dir=log,
                            progress=progress, backup=backup)
    else:
        model = build_with_precision(recipe.precision, lambda: build(cfg.model, **knobs))
        metrics = train_and_evaluate(model, splits.train, splits.val, recipe, seed=cfg.seed, log_dir=log,
                                     progress=progress, backup=backup)
    return model, metrics
