"""Where one run trains: a tf.distribute strategy (or keras.distribution on JAX), or none.

``strategy`` is a run setting (a suite's ``[run] strategy``, ``zoo bench --strategy``). It says
where a run trains, not what it measures, so, like the ``ray_*`` keys, it is in neither the suite
fingerprint nor the run ids: a row trained on two workers keeps the id a one-process run gives it.

- ``auto`` (the default): MirroredStrategy when more than one GPU is visible, otherwise no
  strategy at all, the very code path (and numbers) of a run before this setting existed.
- ``one_device``: OneDeviceStrategy on the first GPU, else the CPU.
- ``mirrored``: MirroredStrategy over every GPU of this machine (the CPU when there is none).
- ``multi_worker``: MultiWorkerMirroredStrategy over the machines ``$TF_CONFIG`` lists.

Under a strategy the model is built and compiled in its scope and ``model.fit`` splits each
global batch (the recipe's ``batch_size``) across the replicas. The data is not sharded by file:
every worker builds the same seeded pipeline and tf.data's ``AutoShardPolicy.DATA`` gives each
replica its slice of every global batch, so the replicas together see exactly the batches a
one-process run sees, in the same order. BatchNormalization is synchronised across replicas
(``zoo.training.compile_model``), so a batch is normalised with the global batch's statistics,
as in a one-process run. What remains different is summation order in the all-reduce.

Only the chief (``task.type == "chief"``, else worker 0) writes results, checkpoints and
TensorBoard logs; the other workers run the same code into a temporary directory they delete
(TensorFlow's multi-worker pattern: every worker takes part in every collective op).

On JAX, ``mirrored`` (and ``auto`` with more than one GPU) is ``keras.distribution.DataParallel``
over the local devices; ``multi_worker`` there is refused (it needs ``keras.distribution.initialize``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\' (index 1 on the second machine)')


def check_strategy(value: Any, name: str = "strategy", where: str = "") -> str:
    """``value`` if it names a strategy, else a ValueError naming ``where``, ``name`` and the choices."""
    if not isinstance(value, str) or value not in STRATEGIES:
        raise ValueError(f"{where}invalid {name}={value!r}; allowed: one of {list(STRATEGIES)}")
    return value


@dataclass(frozen=True)
class Worker:
    """This process's place in ``$TF_CONFIG``'s cluster."""

    task_type: str
    index: int
    workers: int  # chief + worker tasks
    is_chief: bool


def read_tf_config(environ: Mapping[str, str] | None = None) -> Worker:
    """Check ``$TF_CONFIG`` before anything trains; every fault is one message that says what
    is allowed (TensorFlow itself would either train alone or wait forever on a typo)."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG")
    lead = "strategy 'multi_worker' needs the environment variable TF_CONFIG"
    if not raw:
        raise ValueError(f"{lead}, which is not set; set it in every worker's shell, e.g. {TF_CONFIG_EXAMPLE}")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"{lead} to be JSON; TF_CONFIG is not ({err.msg} at column {err.colno}): "
                         f"{raw!r}; e.g. {TF_CONFIG_EXAMPLE}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    allowed = ("a JSON object with \"cluster\" (\"worker\" and optionally one \"chief\": lists of "
               "\"host:port\") and \"task\" ({\"type\": \"worker\" or \"chief\", \"index\": its position "
               "in that list}); e.g. " + TF_CONFIG_EXAMPLE)
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ValueError(f"invalid TF_CONFIG={raw!r}; allowed: {allowed}")
    for job, addresses in cluster.items():
        if job not in ("chief", "worker"):
            raise ValueError(f"invalid TF_CONFIG: cluster job {job!r} (multi_worker trains with 'chief' and "
                             f"'worker' tasks only); allowed: {allowed}")
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and _is_address(a) for a in addresses)):
            raise ValueError(f"invalid TF_CONFIG: cluster {job}={addresses!r}; allowed: a non-empty list of "
                             f"\"host:port\" strings")
    if len(cluster.get("chief", [])) > 1:
        raise ValueError(f"invalid TF_CONFIG: {len(cluster['chief'])} chief tasks; allowed: at most one")
    task_type, index = task.get("type"), task.get("index")
    if task_type not in cluster:
        raise ValueError(f"invalid TF_CONFIG: task type {task_type!r}; allowed: one of the cluster's jobs "
                         f"{sorted(cluster)}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise ValueError(f"invalid TF_CONFIG: task index {index!r}; allowed: an integer from 0 to "
                         f"{len(cluster[task_type]) - 1} (the position of this machine in cluster {task_type})")
    is_chief = task_type == "chief" or ("chief" not in cluster and index == 0)
    return Worker(task_type, index, sum(len(v) for v in cluster.values()), is_chief)


def _is_address(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


@dataclass
class Distribution:
    """How this process trains: ``strategy`` (tf.distribute, None for Keras' default) or
    ``keras_distribution`` (JAX), the replica count and whether this process is the chief."""

    name: str  # what was asked for: one of STRATEGIES
    kind: str  # what it became: "default", "one_device", "mirrored", "multi_worker", "data_parallel"
    replicas: int = 1
    worker: Worker | None = None  # multi_worker only
    strategy: Any = None
    keras_distribution: Any = None

    @property
    def is_chief(self) -> bool:
        return self.worker is None or self.worker.is_chief

    @property
    def is_default(self) -> bool:
        return self.kind == "default"

    def scope(self):
        """Build, compile and fit inside this: variables become mirrored, fit distributes the data."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.keras_distribution is not None:
            return self.keras_distribution.scope()
        return contextlib.nullcontext()

    def describe(self) -> str:
        if self.is_default:
            return "default (no tf.distribute strategy)"
        text = f"{self.kind}, {self.replicas} replica(s)"
        if self.worker is not None:
            text += (f", {self.worker.workers} worker(s); this is {self.worker.task_type} {self.worker.index}"
                     + (" (chief)" if self.is_chief else ""))
        return text

    def record(self) -> dict[str, Any]:
        """For env.json: how the runs of this session trained."""
        out = {"strategy": self.name, "kind": self.kind, "replicas": self.replicas}
        if self.worker is not None:
            out["workers"] = self.worker.workers
        return out

    def all_sum(self, values: list[int]) -> list[int]:
        """The sum over workers of each worker's ``values`` (one all-reduce; counted once per
        worker whatever its number of replicas); ``values`` without workers."""
        if self.worker is None:
            return list(values)
        import tensorflow as tf

        local = tf.constant([1, *values], tf.int64)

        @tf.function
        def reduce():
            per_replica = self.strategy.run(lambda: tf.identity(local))
            return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        total = [int(v) for v in reduce().numpy()]
        per_worker = total[0] // self.worker.workers  # replicas per worker: MWMS needs the same on each
        return [v // per_worker for v in total[1:]]

    def broadcast(self, values: list[int]) -> list[int]:
        """The chief's ``values`` on every worker (others contribute zeros); as given without workers."""
        if self.worker is None:
            return list(values)
        return self.all_sum(values if self.is_chief else [0] * len(values))


_CREATED: dict[str, Distribution] = {}


def make_distribution(name: str = "auto") -> Distribution:
    """The Distribution ``name`` resolves to on this machine, created once per process
    (TensorFlow allows one MultiWorkerMirroredStrategy per process, made before any other op).

    ``zoo bench`` calls this right after reading the suite, before the data is loaded, which is
    the first TensorFlow op of the command; a strategy asked for later fails with that reason.
    """
    check_strategy(name)
    if name in _CREATED:
        return _CREATED[name]
    if _CREATED and (name == "multi_worker" or "multi_worker" in _CREATED):
        raise ValueError(f"strategy {name!r} after {sorted(_CREATED)} in one process: a multi_worker strategy "
                         "is one per process; start a new process")
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        made = _jax_distribution(name)
    elif backend == "tensorflow":
        made = _tf_distribution(name)
    elif name == "auto":
        made = Distribution(name, "default")
    else:
        raise ValueError(f"strategy {name!r} needs the TensorFlow or JAX backend; KERAS_BACKEND is {backend!r} "
                         "(strategy 'auto' trains on it without one)")
    _CREATED[name] = made
    return made


def _tf_distribution(name: str) -> Distribution:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        if len(gpus) <= 1:
            return Distribution(name, "default")
        name_kind = "mirrored"
    else:
        name_kind = name
    if name_kind == "one_device":
        strategy = tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
        return Distribution(name, "one_device", 1, strategy=strategy)
    if name_kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        return Distribution(name, "mirrored", strategy.num_replicas_in_sync, strategy=strategy)
    worker = read_tf_config()
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"cannot start the multi_worker strategy: {err} (TensorFlow needs it before any other "
                         "op of the process: zoo bench makes it before loading data)") from None
    return Distribution(name, "multi_worker", strategy.num_replicas_in_sync, worker=worker, strategy=strategy)


def _jax_distribution(name: str) -> Distribution:
    import jax
    import keras

    if name == "multi_worker":
        raise ValueError("strategy 'multi_worker' needs the TensorFlow backend (KERAS_BACKEND=tensorflow); on JAX, "
                         "processes join with keras.distribution.initialize, which zoo does not drive; use "
                         "'mirrored' for the devices of one machine")
    devices = jax.devices()
    gpus = [d for d in devices if d.platform != "cpu"]
    if name == "one_device" or (name == "auto" and len(gpus) <= 1):
        return Distribution(name, "default")
    chosen = gpus if name == "auto" else devices
    data_parallel = keras.distribution.DataParallel(devices=chosen)
    return Distribution(name, "data_parallel", len(chosen), keras_distribution=data_parallel)
