"""``zoo bench SUITE --ray [ADDRESS]``: a suite's pending runs as tasks on a Ray cluster.

Ray does the scale-out, we only describe the work: each pending configuration is one Ray task
asking for the ``[run] ray_num_cpus`` / ``ray_num_gpus`` of the suite; Ray places it on a node
that has them and reruns it elsewhere when its worker process or node dies (``ray_max_retries``).
A task that raised is not rerun, and a diverged run is a row like any other.

What travels where:

- To a task: the configuration, its recipe, the suite's ``[dataset]`` with the suite file's
  path and the driver's data directory. The task loads the splits itself with ``load_splits``
  (once per worker process; later tasks in that process reuse them) and trains through
  ``zoo.experiment.run.train_configuration``, the path every local row takes.
- The zoo package: a copy of the driver's (a checkout or an installed package) is the job's
  ``working_dir``, so every worker imports the driver's code, never another zoo a node may
  have or find in its working directory. Its dependencies (TensorFlow, Keras, ...) must be
  installed on every node, as with any Ray job.
- Back: the row's metrics, through Ray. TensorBoard logs and the checkpoint are written by the
  task straight into the results directory when its node sees that directory (one machine, or
  a disk shared at the same path; a token file the driver writes tells); otherwise they come
  back with the metrics and the driver writes them.
- Paths are absolute and must mean the same on every node: the suite file, a folder dataset
  beside it, the data directory (``--data-dir`` / ``$ZOO_DATA_DIR`` of the driver).

The driver alone writes results.csv, through ``BenchRunner.record`` as the local runner does,
so a row is written once, atomically, when its task finishes, and a rerun resumes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.bench import results as res
from zoo.bench.runner import ENV_JSON, TB_DIR, BenchRunner, read_env
from zoo.bench.spec import RunConfig

INSTALL_HINT = "pip install 'zoo[ray]'"
TOKEN_FILE = ".zoo-ray-token"  # in the results directory while a driver runs: "this node sees it"
# The driver's settings that decide what a worker computes or prints; a worker on a cluster
# started elsewhere has its raylet's environment, not the driver's.
FORWARDED_ENV = ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_DETERMINISTIC_OPS", "ZOO_DATA_DIR", "TFDS_DATA_DIR")
CONNECT_TIMEOUT_S = 3.0


class RayNotInstalledError(RuntimeError):
    """``--ray`` without Ray installed."""


def require_ray():
    try:
        import ray
    except ImportError:
        raise RayNotInstalledError(f"--ray needs Ray, which is not installed here: {INSTALL_HINT}") from None
    return ray


def check_address(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail within ``timeout`` where no Ray cluster answers at ``address``: ``ray.init`` itself
    retries for minutes, whether nothing listens there or something that is not Ray.

    None, ``auto`` and ``local`` are for ``ray.init`` to resolve. ``HOST:PORT`` (or Ray Client's
    ``ray://HOST:PORT``, untested) gets one gRPC call to a method no server has: a Ray head
    (a gRPC server) answers "unimplemented"; no answer, or no HTTP/2, means no cluster.
    """
    if address in (None, "auto", "local"):
        return
    import grpc  # Ray's own transport: installed with it

    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit() or address.startswith(("http://", "https://")):
        raise ValueError(f"invalid --ray address {address!r}; allowed: HOST:PORT (the head node's GCS port, "
                         "6379 by default, not the dashboard's), 'auto' or 'local', or none")
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            channel.unary_unary("/zoo.bench.Probe/Ping")(b"", timeout=timeout)
        except grpc.RpcError as err:
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                why = "no answer" if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED else err.details()
                raise ConnectionError(f"no Ray cluster answers at {address} ({why}); start one with `ray start "
                                      "--head` (it prints the address), or check HOST:PORT: the head's GCS port, "
                                      "6379 by default") from None


def package_copy() -> Path:
    """A folder holding a copy of the driver's zoo package: the job's working_dir."""
    import zoo

    folder = Path(tempfile.mkdtemp(prefix="zoo-ray-job-"))
    shutil.copytree(Path(zoo.__file__).parent, folder / "zoo",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


# --- on the worker ------------------------------------------------------------------


@dataclass(frozen=True)
class TaskJob:
    """Everything a task needs to train one configuration on its node (no driver state)."""

    cfg: RunConfig
    recipe: Any  # a zoo.training.Recipe
    input_shape: tuple[int, int, int]
    dataset: dict[str, Any]
    suite_path: str
    data_dir: str | None
    latency: Any  # LatencySettings, or None when the suite measures none
    weights_path: str | None
    out: str
    token: str
    checkpoint: str  # relative to out
    checkpoint_info: dict[str, Any]
    threads: int
    deploy: tuple[str, ...] = ()  # [run] deploy: TFLite formats measured on the checkpoint here
    calibration_images: int = 200


_SPLITS: dict[tuple, Any] = {}  # this worker process's loaded data: one suite's at a time


def cached_splits(dataset: dict[str, Any], suite_path: str, data_dir: str | None) -> tuple[Any, bool]:
    """The splits of ``dataset`` and whether this process had them loaded already."""
    from zoo.experiment.configs import stable_hash
    from zoo.experiment.dataset import load_splits

    key = (stable_hash(dataset), suite_path, data_dir)
    if key in _SPLITS:
        return _SPLITS[key], True
    _SPLITS.clear()
    _SPLITS[key] = load_splits(dataset, Path(suite_path), data_dir)
    return _SPLITS[key], False


def limit_threads(threads: int) -> None:
    """TensorFlow uses every core unless told; a task uses what it reserved. Only possible before
    TensorFlow starts, so a reused worker keeps its first setting (the same one: one suite)."""
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def sees_results(out: Path, token: str) -> bool:
    try:
        return (out / TOKEN_FILE).read_text() == token
    except OSError:
        return False


def train_here(job: TaskJob) -> dict[str, Any]:
    """Train ``job`` in this process: ``{"metrics", "files", "data_cached", "zoo"}``. ``files``
    holds the logs and checkpoint (relative path -> bytes) when the results directory is not
    visible here, else nothing: they were written in place."""
    import zoo
    from zoo.checkpoint import save_checkpoint
    from zoo.experiment.deploy import measure_run
    from zoo.experiment.run import train_configuration

    limit_threads(job.threads)
    splits, cached = cached_splits(job.dataset, job.suite_path, job.data_dir)
    shared = sees_results(Path(job.out), job.token)
    dest = Path(job.out) if shared else Path(tempfile.mkdtemp(prefix="zoo-ray-run-"))
    try:
        run_dir = dest / TB_DIR / job.cfg.run_id
        shutil.rmtree(run_dir, ignore_errors=True)  # an earlier attempt's, on a node that died
        model, metrics = train_configuration(job.cfg, splits, job.recipe, job.input_shape, log_dir=run_dir,
                                             progress=False, latency=job.latency, weights_path=job.weights_path)
        if res.is_valid(metrics):
            save_checkpoint(model, dest / job.checkpoint, class_names=splits.train.class_names,
                            info={**job.checkpoint_info, "top1": metrics.get("top1")})
            metrics["checkpoint"] = job.checkpoint
            metrics.update(measure_run(dest / job.checkpoint, job.deploy, splits,
                                       calibration_images=job.calibration_images, timing=job.latency,
                                       label=f"{job.cfg.run_id} ({job.cfg.label} seed={job.cfg.seed})"))
        files = {} if shared else {p.relative_to(dest).as_posix(): p.read_bytes()
                                   for p in sorted(dest.rglob("*")) if p.is_file()}
    finally:
        if not shared:
            shutil.rmtree(dest, ignore_errors=True)
    return {"metrics": metrics, "files": files, "data_cached": cached, "zoo": str(Path(zoo.__file__).parent)}


def train_task(job: TaskJob):
    """The Ray task, a generator: ``started`` (so the driver can tell running from queued), then
    ``finished`` with ``train_here``'s result. A retried task's replayed ``started`` is dropped
    by Ray, which hands each yielded item to the driver once."""
    import ray

    where = {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid()}
    yield {"event": "started", **where}
    yield {"event": "finished", **where, **train_here(job)}


# --- on the driver ------------------------------------------------------------------


class RayBenchRunner(BenchRunner):
    """``BenchRunner`` whose pending runs train as Ray tasks; rows are recorded here, as they finish.

    ``address`` goes to ``ray.init``: None connects to the cluster ``ray.init()`` finds
    (``$RAY_ADDRESS``, else the latest ``ray start`` on this machine) and otherwise starts a
    Ray instance on this machine for the length of the run; ``auto`` insists on an existing
    one; ``HOST:PORT`` names the head node. A process already connected to Ray (a notebook)
    keeps its connection, and its workers import whatever zoo they find.
    """

    def __init__(self, *args, address: str | None = None, **kwargs):
        require_ray()
        check_address(address or os.environ.get("RAY_ADDRESS"))
        super().__init__(*args, **kwargs)
        self.address = address
        self.running: dict[str, dict[str, Any]] = {}  # run id -> where its task runs (tests read it)
        self.placements: dict[str, dict[str, Any]] = {}  # run id -> where it finished, data cached, zoo used
        self.lost: dict[str, str] = {}  # run id -> why Ray gave it up (its retries ran out)

    def connect(self):
        """Ray, connected; returns (ray, whether this runner opened the connection)."""
        ray = require_ray()
        if ray.is_initialized():
            return ray, False
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        self._job_dir = package_copy()
        try:
            ray.init(address=self.address, runtime_env={"working_dir": str(self._job_dir), "env_vars": env},
                     logging_level="WARNING")
        except ConnectionError as err:
            shutil.rmtree(self._job_dir, ignore_errors=True)
            raise ConnectionError(f"cannot connect to the Ray cluster at {self.address or 'auto'}: {err}") from None
        return ray, True

    def describe_cluster(self, ray) -> str:
        """One line on the cluster, and a warning when no node can take a run as ``[run]`` asks."""
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        total = ray.cluster_resources()
        line = (f"zoo bench: Ray cluster at {ray.get_runtime_context().gcs_address}: {len(nodes)} node(s), "
                f"{total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs")
        want = self.suite.run.ray
        if not any(n.get("CPU", 0) >= want.num_cpus and n.get("GPU", 0) >= want.num_gpus for n in nodes):
            line += (f"; no node has the {want.num_cpus:g} CPU(s) and {want.num_gpus:g} GPU(s) a run asks for "
                     "([run] ray_num_cpus, ray_num_gpus): the runs wait until such a node joins")
        return line

    def job(self, cfg: RunConfig, token: str) -> TaskJob:
        """``cfg``'s task, every path absolute (a worker's working directory is the job's)."""
        weights = self.suite.weights_path(cfg)
        if weights and Path(weights).exists():  # a file; a tag ('imagenet') stays as it is
            weights = str(Path(weights).resolve())
        return TaskJob(cfg=cfg, recipe=self.suite.recipe_for(cfg), input_shape=tuple(self.suite.input_shape),
                       dataset=dict(self.suite.dataset), suite_path=str(Path(self.suite.path).resolve()),
                       data_dir=str(Path(self.data_dir).resolve()) if self.data_dir else None,
                       latency=self.suite.run.timing if self.suite.run.latency else None,
                       weights_path=weights, out=str(self.out.resolve()), token=token,
                       checkpoint=self.checkpoint_path(cfg), checkpoint_info=self.checkpoint_info(cfg, None),
                       threads=max(1, math.ceil(self.suite.run.ray.num_cpus)),
                       deploy=self.suite.run.deploy, calibration_images=self.suite.run.calibration_images)

    def train_pending(self, pending: list[RunConfig], bar) -> None:
        if not pending:
            return
        ray, owned = self.connect()
        settings = self.suite.run.ray
        tasks: dict = {}
        try:
            bar.write(self.describe_cluster(ray))
            token = uuid.uuid4().hex
            self.out.mkdir(parents=True, exist_ok=True)
            res.write_atomic(self.out / TOKEN_FILE, token)
            # max_calls: GPU tasks keep Ray's default (a fresh process each, so each sees its own
            # GPU); CPU workers are reused, and with them the loaded data.
            remote = ray.remote(num_cpus=settings.num_cpus, num_gpus=settings.num_gpus,
                                max_retries=settings.max_retries, retry_exceptions=False, num_returns="streaming",
                                **({} if settings.num_gpus else {"max_calls": 0}))(train_task)
            for cfg in pending:
                tasks[remote.options(name=f"zoo-bench {cfg.run_id}").remote(self.job(cfg, token))] = cfg
            self.show(bar, tasks)
            while tasks:
                ready, _ = ray.wait(list(tasks), num_returns=1, timeout=1.0)
                for task in ready:
                    self.take(ray, task, tasks, bar)
                self.show(bar, tasks)
        finally:
            for task in tasks:  # interrupted, or a run raised: stop the rest
                with contextlib.suppress(Exception):  # finished meanwhile, or the cluster is gone
                    ray.cancel(task, force=True)
            (self.out / TOKEN_FILE).unlink(missing_ok=True)
            if self.placements:
                self.record_placements()
            if owned:
                ray.shutdown()
                shutil.rmtree(self._job_dir, ignore_errors=True)
        if self.lost:
            print(f"zoo bench: {len(self.lost)} run(s) lost with their workers or nodes after "
                  f"{settings.max_retries} retries, no row written; rerun the command to train them: "
                  + "; ".join(f"{run_id} ({why})" for run_id, why in self.lost.items()), file=sys.stderr)

    def take(self, ray, task, tasks: dict, bar) -> None:
        """The next message of ``task``: it started, or it finished (its row is recorded now)."""
        cfg = tasks[task]
        try:
            message = ray.get(next(task))
        except StopIteration:  # both items were taken
            del tasks[task]
            return
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.LocalRayletDiedError, ray.exceptions.ObjectLostError,
                ray.exceptions.OutOfMemoryError) as err:
            del tasks[task]
            self.running.pop(cfg.run_id, None)
            self.lost[cfg.run_id] = type(err).__name__
            bar.write(f"{cfg.run_id}: {cfg.label} seed={cfg.seed} LOST: {type(err).__name__}")
            return
        where = {k: message[k] for k in ("node_id", "host", "pid")}
        if message["event"] == "started":
            self.running[cfg.run_id] = where
            return
        del tasks[task]
        self.running.pop(cfg.run_id, None)
        self.placements[cfg.run_id] = {**where, "data_cached": message["data_cached"], "zoo": message["zoo"]}
        self.unpack(message["files"])
        row = self.record(cfg, message["metrics"])
        bar.update(1)
        self.report_row(bar, cfg, row, where=f" on {where['host']}")

    def unpack(self, files: dict[str, bytes]) -> None:
        """Write the logs and checkpoint a task sent back (its node did not see the results directory)."""
        for relative_path, data in files.items():
            path = self.out / relative_path
            path.parent.mkdir(parents=True, exist_ok=True)
            res.write_atomic(path, data)

    def record_placements(self) -> None:
        """Which host trained which run, in env.json (latency and speed are measured there)."""
        env_path = self.out / ENV_JSON
        record = read_env(env_path)
        record.setdefault("ray_hosts", {}).update({run_id: p["host"] for run_id, p in self.placements.items()})
        res.write_atomic(env_path, json.dumps(record, indent=2, default=str) + "\n")

    def show(self, bar, tasks: dict) -> None:
        running = sum(cfg.run_id in self.running for cfg in tasks.values())
        bar.set_postfix_str(f"done {bar.n}, running {running}, queued {len(tasks) - running}")
