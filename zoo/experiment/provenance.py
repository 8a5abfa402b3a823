"""Provenance: what ran, where, on which code, versions and data. One record for every results file.

``environment()`` is the machine-readable record (a suite's env.json); ``versions()`` and
``machine_label()`` are the one-line forms a Markdown report's header carries.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo; platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def git_state(repo: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the checkout holding the zoo package (None outside git)."""
    repo = repo or Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def machine_label() -> str:
    return f"{cpu_model()}, {available_cpus()} CPU threads, {platform.system()} {platform.machine()}"


def device_label() -> str:
    """Where a model runs and is timed: the first GPU's name when TensorFlow sees one, else the CPU's."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU {details.get('device_name', gpus[0].name)}" + (f" (x{len(gpus)})" if len(gpus) > 1 else "")
    return f"CPU {cpu_model()}, {available_cpus()} threads"


def load_average() -> str:
    """The 1/5/15-minute load average: a timing taken on a busy machine says so."""
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


def intra_op_threads() -> int:
    """TF's intra-op thread count (0 means 'all cores', resolved here to the core count)."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1


def versions(torch: bool = False) -> str:
    """``Python 3.11.7, TensorFlow 2.21.0, Keras 3.15.1, numpy 2.1.3`` (+ PyTorch, torchvision, timm)."""
    import keras
    import numpy as np
    import tensorflow as tf

    parts = [f"Python {platform.python_version()}", f"TensorFlow {tf.__version__}", f"Keras {keras.__version__}",
             f"numpy {np.__version__}"]
    if torch:
        import torch as pt
        import torchvision

        parts += [f"PyTorch {pt.__version__}", f"torchvision {torchvision.__version__}"]
        try:
            import timm

            parts.append(f"timm {timm.__version__}")
        except ImportError:
            pass
    return ", ".join(parts)


def dataset_record(train, val=None) -> dict[str, Any]:
    """Which exact images a result was measured on (fingerprints hash class order, paths, sizes)."""
    from zoo.experiment.dataset import portable_source

    record = {"source": portable_source(train.source), "train_fingerprint": train.fingerprint,
              "train_examples": train.num_examples, "class_names": list(train.class_names)}
    if val is not None:
        record.update(eval_fingerprint=val.fingerprint, eval_examples=val.num_examples)
    return record


def environment() -> dict[str, Any]:
    """Versions, code, machine, load and thread settings, as a flat JSON-able dict."""
    import keras
    import tensorflow as tf

    import zoo

    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        # Relative to the working directory: the record is committed beside the tables.
        "python_executable": os.path.relpath(sys.executable) if os.path.isabs(sys.executable) else sys.executable,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "zoo": zoo.__version__,
        **git_state(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_threads_available": available_cpus(),
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "hostname": platform.node(),
        "load_average": load_average(),
    }
