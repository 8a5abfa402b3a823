"""`zoo bench --ray` on a real Ray cluster: a head and two worker nodes on loopback, 1 CPU each.

The suite is four runs (two convnets x two seeds) on a generated 3-class folder of 16 px
images, one epoch each. Checked: every configuration's row is written exactly once by the
driver, with the top-1 a local run gets from the same seeds; a worker node removed mid-run
has its run retried on another node, still once; the workers import the driver's zoo; the
loaded data is reused by later tasks of a worker process; the logs and checkpoint come back
through Ray where a node does not see the results directory; and bad input (no Ray, an
address nobody answers at) gets one clear line. Ray's own tests start clusters the same way
(``ray.cluster_utils.Cluster``); about 2.5 minutes on two busy cores.
"""

import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

import zoo
from zoo.bench.lock import RunnerLock
from zoo.bench.results import read_rows
from zoo.bench.runner import run_suite
from zoo.bench.spec import RaySettings, load_suite
from zoo.cli import main as zoo_main

pytestmark = pytest.mark.slow

SUITE = """
name = "tiny-ray"
description = "three colour classes, 16px, four runs"
[dataset]
name = "./tiny"
image_size = 16
[recipe]
epochs = 1
batch_size = 8
[run]
seeds = [0, 1]
latency = false
{ray}
[[models]]
name = "convnet"
width = 0.25
grid = {{ conv = ["standard", "separable"] }}
"""
NODE = {"num_cpus": 1, "object_store_memory": 80 * 1024**2}
NO_RAY = "Ray is not installed (pip install 'zoo[ray]'; scripts/setup-env installs it)"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, colour_folders):
    """A suite file beside a 3-class folder: train 12 and test 6 noisy solid-colour images per class."""
    root = colour_folders(tmp_path_factory.mktemp("ray"))
    (root / "suite.toml").write_text(SUITE.format(ray=""))
    return root


@pytest.fixture(scope="module")
def cluster(workdir):
    """Head + 2 worker nodes, all on 127.0.0.1 (Ray otherwise picks the machine's address). While
    they start, the suite trains here, one run after the other: the reference (``local_rows``)."""
    pytest.importorskip("ray", reason=NO_RAY)
    import ray
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    # Ray binds to loopback only where it thinks clusters are off (Windows/macOS): the node
    # processes read the variable, this process the constant.
    previous = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"), ray_constants.ENABLE_RAY_CLUSTER
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    failed: list = []

    def reference():
        try:
            run_suite(workdir / "suite.toml", out=workdir / "local", progress=False)
        except BaseException as err:  # noqa: BLE001  (raised below, in the test's thread)
            failed.append(err)

    training = threading.Thread(target=reference)  # Ray starts its nodes from the main thread only
    training.start()
    nodes = None
    try:
        nodes = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
        for _ in range(2):
            nodes.add_node(**NODE)
        nodes.wait_for_nodes()
        training.join()
        if failed:
            raise failed[0]
        yield nodes
    finally:
        training.join()
        if ray.is_initialized():
            ray.shutdown()
        if nodes is not None:
            nodes.shutdown()
        if previous[0] is None:
            os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        else:
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = previous[0]
        ray_constants.ENABLE_RAY_CLUSTER = previous[1]


@pytest.fixture(scope="module")
def local_rows(workdir, cluster):
    return {r["run_id"]: r for r in read_rows(workdir / "local" / "results.csv")}


def assert_each_once_as_local(out: Path, local_rows) -> dict:
    rows = read_rows(out / "results.csv")
    ids = [r["run_id"] for r in rows]
    assert sorted(ids) == sorted(local_rows), "every configuration exactly once"
    by_id = {r["run_id"]: r for r in rows}
    for run_id, ref in local_rows.items():
        row = by_id[run_id]
        assert abs(row["top1"] - ref["top1"]) <= 1e-6, (run_id, row["top1"], ref["top1"])
        # TensorFlow here uses 2 threads, a task its 1 CPU: the loss may move in the 7th digit
        # (measured up to 6.6e-7; identical with one thread on both sides).
        assert row["val_loss"] == pytest.approx(ref["val_loss"], rel=1e-5, abs=1e-6)
        assert (out / row["checkpoint"]).is_file() and any((out / "tb" / run_id).rglob("events.out.tfevents*"))
    return by_id


def test_ray_keys_are_checked_and_stay_out_of_run_ids(workdir):
    plain = load_suite(workdir / "suite.toml")
    assert plain.run.ray == RaySettings(num_cpus=1, num_gpus=0, max_retries=3)
    custom = workdir / "custom.toml"
    custom.write_text(SUITE.format(ray="ray_num_cpus = 2\nray_num_gpus = 0.5\nray_max_retries = 1"))
    suite = load_suite(custom)
    assert suite.run.ray == RaySettings(num_cpus=2, num_gpus=0.5, max_retries=1)
    assert suite.fingerprint == plain.fingerprint
    assert [c.run_id for c in suite.configurations()] == [c.run_id for c in plain.configurations()]
    for bad, message in (("ray_num_cpus = 0", "ray_num_cpus=0; allowed: a number > 0"),
                         ("ray_num_gpus = -1", "ray_num_gpus=-1; allowed: a number >= 0"),
                         ("ray_max_retries = 1.5", "ray_max_retries=1.5"),
                         ("ray_cpus = 1", "ray_cpus")):
        custom.write_text(SUITE.format(ray=bad))
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(".", r"\.")):
            load_suite(custom)


def test_ray_not_installed_says_how_to_install(workdir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert zoo_main(["bench", str(workdir / "suite.toml"), "--ray", "--out", str(workdir / "no-ray")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'zoo[ray]'" in err and "Traceback" not in err
    assert not (workdir / "no-ray").exists()


def test_unreachable_address_fails_fast_naming_it(workdir, capsys):
    """Nothing listens at the port, or something that is not Ray: ``ray.init`` would retry for minutes."""
    pytest.importorskip("ray", reason=NO_RAY)
    with socket.socket() as refused, socket.socket() as mute:
        refused.bind(("127.0.0.1", 0))
        mute.bind(("127.0.0.1", 0))
        mute.listen()  # accepts connections, never speaks
        for port in (refused.getsockname()[1], mute.getsockname()[1]):
            address = f"127.0.0.1:{port}"
            start = time.monotonic()
            assert zoo_main(["bench", str(workdir / "suite.toml"), "--ray", address,
                             "--out", str(workdir / "nowhere")]) == 2
            assert time.monotonic() - start < 10
            err = capsys.readouterr().err
            assert f"no Ray cluster answers at {address}" in err and "Traceback" not in err


def test_results_folder_not_shared_comes_back_through_ray(workdir):
    """A node that does not see the results directory sends the logs and checkpoint back."""
    pytest.importorskip("ray", reason=NO_RAY)
    from zoo.bench.cluster import RayBenchRunner, train_here

    runner = RayBenchRunner(workdir / "suite.toml", out=workdir / "unshared", progress=False)
    cfg = runner.configs[1]
    result = train_here(runner.job(cfg, token="another driver's"))
    assert not (workdir / "unshared").exists()
    assert f"checkpoints/{cfg.run_id}.keras" in result["files"]
    assert any(name.startswith(f"tb/{cfg.run_id}/") for name in result["files"])
    runner.unpack(result["files"])
    assert (workdir / "unshared" / result["metrics"]["checkpoint"]).is_file()


def test_suite_on_cluster_each_run_once_as_local(workdir, cluster, local_rows):
    out = workdir / "cluster"
    runner = run_suite(workdir / "suite.toml", out=out, progress=False, ray=cluster.address)
    assert_each_once_as_local(out, local_rows)
    assert not runner.lost and not runner.running
    placements = runner.placements
    assert len({p["node_id"] for p in placements.values()}) >= 2, placements
    # The workers ran the driver's zoo (a copy in the job's working_dir), not another checkout's.
    ours = (Path(zoo.__file__).parent / "bench" / "cluster.py").read_text()
    assert all((Path(p["zoo"]) / "bench" / "cluster.py").read_text() == ours for p in placements.values())
    # Each worker process loaded the data once: its later tasks found it loaded.
    processes = [(p["node_id"], p["pid"]) for p in placements.values()]
    assert sum(not p["data_cached"] for p in placements.values()) == len(set(processes))
    assert not (out / ".zoo-ray-token").exists()
    # Rerun: nothing pending, nothing trained, the rows untouched.
    before = (out / "results.csv").read_text()
    run_suite(workdir / "suite.toml", out=out, progress=False, ray=cluster.address)
    assert (out / "results.csv").read_text() == before


def test_worker_node_killed_mid_run_is_retried_elsewhere_once(workdir, cluster, local_rows):
    import ray

    from zoo.bench.cluster import RayBenchRunner

    out = workdir / "node-died"
    runner = RayBenchRunner(workdir / "suite.toml", out=out, progress=False, address=cluster.address)
    killed = {}  # node id -> the runs it was running

    def kill_a_busy_worker_node():
        """After the first row: SIGKILL every process of a worker node that runs a task."""
        deadline = time.monotonic() + 150
        while not killed and time.monotonic() < deadline:
            time.sleep(0.2)
            driver = ray._private.worker.global_worker.node
            if driver is None or not read_rows(out / "results.csv"):
                continue
            for node in list(cluster.worker_nodes):
                runs = [run_id for run_id, p in dict(runner.running).items() if p["node_id"] == node.node_id]
                if runs and node._raylet_socket_name != driver._raylet_socket_name:
                    cluster.remove_node(node, allow_graceful=False)
                    killed[node.node_id] = runs
                    return

    killer = threading.Thread(target=kill_a_busy_worker_node, daemon=True)
    killer.start()
    with RunnerLock(runner.out):
        runner.check_output(False)
        runner.prepare()
        runner.run()
    killer.join(timeout=5)
    assert killed, "no worker node was running a task after the first row"
    assert_each_once_as_local(out, local_rows)
    assert not runner.lost
    [(victim, runs)] = killed.items()
    # Retried on a node still alive, unless it finished on the victim in the instant before the kill
    # (its result already sent): then it must not have been trained twice, which the row count shows.
    retried = [run_id for run_id in runs if runner.placements[run_id]["node_id"] != victim]
    assert retried or len(read_rows(out / "results.csv")) == len(local_rows)
