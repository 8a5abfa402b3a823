"""Per-epoch backups, so a training run interrupted mid-way resumes from its last finished epoch.

A resumed run trains the same steps on the same batches as an uninterrupted one, so its
weights and top-1 are bit-identical to it (tested with a real SIGKILL). That takes:

- every variable of the model (weights, BatchNorm statistics, Dropout seed-generator
  states) and of the optimizer (the iteration count, which drives the warmup/cosine
  schedule, and the momenta), restored before ``fit`` starts again;
- the data order: the pipeline's shuffle and augmentation seeds advance once per iterator
  created from it, and Keras's ``fit`` (3.15.1) creates two per epoch for a dataset of known
  length (the one it trains on, and one made at the epoch's end and dropped), so epoch e
  trains on the pipeline's iteration 2e. ``fast_forward`` creates and drops as many before a
  resumed ``fit`` (measured: ~0.1 s per finished epoch, 50,000 CIFAR-size images).
- the finished epochs' logs and timings, so the returned metrics cover the whole run.

A backup is one ``backup.npz`` per run (written to a temporary file, then renamed, after
every finished epoch). One that cannot be read, or that belongs to another configuration,
is ignored with a warning and the run starts from scratch.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

BACKUP_NAME = "backup.npz"
FORMAT = 1
FIT_ITERATORS_PER_EPOCH = 2  # see the module doc; the SIGKILL test fails if Keras changes it


@dataclass
class Restored:
    """What a backup brings back besides the variables: the finished epochs' record."""

    epoch: int  # epochs finished
    history: dict[str, list[float]] = field(default_factory=dict)
    timed_seconds: list[float] = field(default_factory=list)  # training seconds per epoch, no tracing epoch
    train_seconds: float = 0.0


def backup_file(directory: str | Path) -> Path:
    return Path(directory) / BACKUP_NAME


def has_backup(directory: str | Path | None) -> bool:
    return directory is not None and backup_file(directory).is_file()


def _state(model) -> list:
    return [*model.variables, *model.optimizer.variables]


def _describe(variables) -> list[list[Any]]:
    """Shapes and dtypes in order: paths carry Keras's per-process name counters (``sgd_3/...``)."""
    return [[list(v.shape), str(v.dtype)] for v in variables]


def load(directory: str | Path, model, identity: dict[str, Any]) -> Restored | None:
    """Restore ``model`` (compiled) and its optimizer from the backup in ``directory``.

    None when there is none, or when it is unusable (unreadable, damaged, another
    configuration's): then a warning says why, nothing was changed and the run starts over.
    """
    path = backup_file(directory)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            arrays = [npz[f"v{i}"] for i in range(len(meta["variables"]))]  # reading checks each CRC
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, this version reads {FORMAT}")
        if meta["identity"] != identity:
            changed = sorted(k for k in set(meta["identity"]) | set(identity)
                             if meta["identity"].get(k) != identity.get(k))
            raise ValueError(f"it was written for another configuration (differs in: {', '.join(changed)})")
        epoch = int(meta["epoch"])
        if not 1 <= epoch <= identity["epochs"]:
            raise ValueError(f"epoch {epoch} is outside 1..{identity['epochs']}")
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        variables = _state(model)
        if len(variables) != len(arrays):
            raise ValueError(f"it holds {len(arrays)} variables, the model and optimizer have {len(variables)}")
        for v, described, a in zip(variables, meta["variables"], arrays):
            if described != _describe([v])[0] or list(a.shape) != list(v.shape):
                raise ValueError(f"its value of {v.path} is {described}, the variable {_describe([v])[0]}")
    except Exception as err:  # noqa: BLE001 - any unusable backup means the same: start over
        warnings.warn(f"ignoring the backup {path} ({type(err).__name__}: {err}); the run starts from scratch",
                      stacklevel=2)
        return None
    for v, a in zip(variables, arrays):
        v.assign(a)
    print(f"resuming from epoch {epoch} of {identity['epochs']} (backup {path})", file=sys.stderr, flush=True)
    return Restored(epoch, {k: list(vs) for k, vs in meta["history"].items()}, list(meta["timed_seconds"]),
                    float(meta["train_seconds"]))


def fast_forward(dataset, epochs_done: int) -> None:
    """Advance ``dataset``'s shuffle and augmentation seeds to where ``fit`` leaves them after
    ``epochs_done`` epochs (see the module doc)."""
    for _ in range(FIT_ITERATORS_PER_EPOCH * epochs_done):
        iter(dataset)


def remove(directory: str | Path) -> None:
    """Forget a run's backups (its row is committed, or the run restarts)."""
    shutil.rmtree(directory, ignore_errors=True)


class EpochBackup(keras.callbacks.Callback):
    """Write the backup after every finished epoch, unless training is stopping (a diverged loss:
    resuming from the epoch before reproduces the divergence and its reason)."""

    def __init__(self, directory: str | Path, identity: dict[str, Any], clock, restored: Restored | None = None):
        super().__init__()
        self.path = backup_file(directory)
        self.identity = identity
        self.clock = clock  # zoo.training._TrainClock: this attempt's epoch times
        self.restored = restored or Restored(0)
        self.history: dict[str, list[float]] = {k: list(v) for k, v in self.restored.history.items()}

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)
        if self.model.stop_training or not all(math.isfinite(v) for k, v in logs.items() if k.endswith("loss")):
            return
        meta = {"format": FORMAT, "epoch": epoch + 1, "identity": self.identity, "history": self.history,
                "timed_seconds": self.restored.timed_seconds + self.clock.epoch_seconds[1:],
                "train_seconds": self.restored.train_seconds + time.perf_counter() - self._start}
        variables = _state(self.model)
        meta["variables"] = _describe(variables)
        arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
