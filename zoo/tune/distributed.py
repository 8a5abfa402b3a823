"""keras-tuner's distributed mode: one chief oracle served over gRPC, N workers.

Each process reads ``KERASTUNER_TUNER_ID`` ("chief" or e.g. "tuner0"),
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``; all of them run the same
``zoo tune SPEC`` command over a shared folder. ``launch_local`` starts such a cluster
on 127.0.0.1 for convenience.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# keras-tuner's own chief loop polls every 20 s once the search has ended; we poll faster.
POLL_SECONDS = 0.5


def serve_oracle(oracle) -> None:
    """Serve ``oracle`` until every worker has been told to stop and no trial is running."""
    from concurrent import futures

    import grpc
    from zoo.tune.kt_private import oracle_chief, protos

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"the chief oracle could not listen on {address} (port in use?)")
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(POLL_SECONDS)
    finally:
        server.stop(grace=1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_env(tuner_id: str, port: int, ip: str = "127.0.0.1") -> dict[str, str]:
    return {**os.environ, "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": ip,
            "KERASTUNER_ORACLE_PORT": str(port)}


def launch_local(spec_path: str | Path, workers: int, extra_args: list[str], log_dir: Path,
                 port: int | None = None) -> int:
    """Start a chief and ``workers`` worker processes of ``zoo tune``; wait for all of them.

    Each process logs to ``log_dir/<tuner id>.log``. Returns 0 when every process
    succeeded; if one fails, the others are stopped and its exit code is returned.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"zoo tune: invalid --workers={workers!r}; allowed: an integer >= 1")
    port = port or free_port()
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "zoo", "tune", str(spec_path), *extra_args]
    procs = {}
    for tuner_id in ["chief"] + [f"tuner{i}" for i in range(workers)]:
        log = open(log_dir / f"{tuner_id}.log", "w")
        procs[tuner_id] = (subprocess.Popen(cmd, env=cluster_env(tuner_id, port), stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True), log)
        print(f"started {tuner_id} (pid {procs[tuner_id][0].pid}), log: {log_dir / (tuner_id + '.log')}")
    failed = 0
    try:
        pending = dict(procs)
        while pending:
            for tuner_id, (proc, log) in list(pending.items()):
                code = proc.poll()
                if code is None:
                    continue
                del pending[tuner_id]
                log.close()
                if code != 0 and not failed:
                    failed = code
                    print(f"{tuner_id} exited with code {code}; see {log_dir / (tuner_id + '.log')}",
                          file=sys.stderr)
                    for other, _ in pending.values():
                        os.killpg(other.pid, signal.SIGTERM)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        for proc, _ in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        raise
    return failed


def run_local_cluster(spec, workers: int, runs_dir, results_dir, *, data_dir: str | None = None,
                      restart: bool = False, quiet: bool = False) -> tuple[int, Path]:
    """The whole pre-flight check once, here, then a chief and ``workers`` workers on 127.0.0.1.

    Returns the cluster's exit code and the job's project folder.
    """
    from zoo.tune.search import preflight, prepare_project

    preflight(spec, data_dir)  # before starting any process
    project = prepare_project(spec, runs_dir, restart=restart)
    extra = ["--runs-dir", str(runs_dir), "--results-dir", str(results_dir), "--no-check"]
    if data_dir:
        extra += ["--data-dir", data_dir]
    if quiet:
        extra.append("--quiet")
    return launch_local(spec.path, workers, extra, project / "logs"), project
