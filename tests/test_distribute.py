"""Data-parallel training through tf.distribute (``zoo.experiment.distribute``).

The multi-worker test starts two ``zoo bench`` processes on 127.0.0.1 with TF_CONFIG, on the
tiny generated 3-class folder, and compares them with each other and with a one-process run
of the same suite (same run ids: the strategy is not part of them).

Tolerance of "matches a one-process run": the replicas see exactly the batches and the
augmentation of one process (the pipeline is seeded; AutoShardPolicy.DATA hands each replica
half of every global batch), BatchNorm uses the global batch's statistics and the coupled weight
decay is counted once. What differs is float summation order: gradients are summed across the
replicas by the all-reduce, and the synchronised BatchNorm computes the variance as
E[x^2] - E[x]^2. Measured on this suite: top-1 and train top-1 identical, val_loss within
1.4e-5. The test allows 1e-3 on val_loss and equal top-1.
"""

import csv
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.bench.runner import run_suite
from zoo.cli import main as zoo_main
from zoo.experiment.distribute import make_distribution, read_tf_config

REPO = Path(__file__).resolve().parents[1]
SUITE = """
name = "tiny-dist"
[dataset]
name = "./tiny"
image_size = 16
[recipe]
epochs = 2
batch_size = 8
[run]
latency = false
[[models]]
name = "convnet"
width = 0.25
"""
DIGEST = re.compile(r"^(\S+): multi_worker, 2 replica\(s\), 2 worker\(s\); this is worker (\d)(?: \(chief\))?: "
                    r"(\d+) steps, weights sha256 (\w+)$", re.M)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, colour_folders):
    root = colour_folders(tmp_path_factory.mktemp("dist"))
    (root / "suite.toml").write_text(SUITE)
    return root


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def rows(path):
    with open(path, newline="") as f:
        return {r["run_id"]: r for r in csv.DictReader(f)}


def tf_config(cluster, index, task_type="worker"):
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def test_two_workers_match_each_other_and_one_process(workdir):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    out = workdir / "two-workers"
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(REPO),
               "TF_CONFIG": tf_config(cluster, index)}
        procs.append(subprocess.Popen([sys.executable, "-m", "zoo", "bench", str(workdir / "suite.toml"), "--out",
                                       str(out), "--no-progress", "--strategy", "multi_worker"],
                                      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [p.communicate(timeout=400) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stderr[-3000:]
    (chief,), (other,) = (DIGEST.findall(stderr) for _, stderr in outputs)
    assert chief[1] == "0" and other[1] == "1"
    assert chief[2] == other[2] == "8"  # both took 2 epochs x (36 images // global batch 8) steps
    assert chief[3] == other[3]  # and end with bit-identical weights
    assert "the chief wrote the results" in outputs[1][0]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "env.json", "pareto.png", "results.csv",
                                                     "results.md", "suite.toml", "tb"]
    assert json.loads((out / "env.json").read_text())["distribution"] == {
        "strategy": "multi_worker", "kind": "multi_worker", "replicas": 2, "workers": 2}

    single = run_suite(workdir / "suite.toml", out=workdir / "one-process", progress=False)
    assert single.distribution.is_default  # auto on a machine without GPUs: the path without a strategy
    two, one = rows(out / "results.csv"), rows(workdir / "one-process" / "results.csv")
    assert two.keys() == one.keys() == {chief[0]}  # same run id: resumable and reusable across strategies
    a, b = two[chief[0]], one[chief[0]]
    assert a["top1"] == b["top1"] and a["train_top1"] == b["train_top1"]
    assert abs(float(a["val_loss"]) - float(b["val_loss"])) < 1e-3


@pytest.mark.parametrize("value, message", [
    (None, "needs the environment variable TF_CONFIG, which is not set"),
    ("{not json", "TF_CONFIG is not (Expecting property name"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "invalid TF_CONFIG="),
    ('{"cluster": {"ps": ["h:1"], "worker": ["h:2"]}, "task": {"type": "worker", "index": 0}}', "cluster job 'ps'"),
    ('{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}', "\"host:port\" strings"),
    ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 2}}', "from 0 to 1"),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "chief", "index": 0}}', "task type 'chief'"),
])
def test_bad_tf_config_is_one_clear_error(value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        read_tf_config({} if value is None else {"TF_CONFIG": value})


def test_chief_is_the_chief_task_else_worker_zero():
    assert read_tf_config({"TF_CONFIG": tf_config({"worker": ["h:1", "h:2"]}, 0)}).is_chief
    assert not read_tf_config({"TF_CONFIG": tf_config({"worker": ["h:1", "h:2"]}, 1)}).is_chief
    both = {"chief": ["h:10"], "worker": ["h:11"]}
    assert read_tf_config({"TF_CONFIG": tf_config(both, 0, "chief")}).is_chief
    worker = read_tf_config({"TF_CONFIG": tf_config(both, 0)})
    assert not worker.is_chief and worker.workers == 2


def test_bad_strategy_and_missing_tf_config_fail_before_training(workdir, capsys, monkeypatch):
    bad = workdir / "bad.toml"
    bad.write_text(SUITE.replace("latency = false", 'latency = false\nstrategy = "horovod"'))
    assert zoo_main(["bench", str(bad), "--out", str(workdir / "bad"), "--dry-run"]) == 2
    assert "invalid [run] strategy='horovod'; allowed: one of ['auto', 'one_device', 'mirrored', 'multi_worker']" \
        in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse's own message and exit status 2
        zoo_main(["bench", str(workdir / "suite.toml"), "--strategy", "horovod"])
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert zoo_main(["bench", str(workdir / "suite.toml"), "--out", str(workdir / "none"), "--dry-run",
                     "--strategy", "multi_worker"]) == 2
    assert "TF_CONFIG, which is not set" in capsys.readouterr().err
    assert not (workdir / "none").exists()
    with pytest.raises(ValueError, match="--ray trains each run as one task"):
        run_suite(workdir / "suite.toml", out=workdir / "ray", ray="", strategy="mirrored", dry_run=True)


def test_auto_without_gpus_is_the_default_path():
    dist = make_distribution("auto")
    assert dist.is_default and dist.strategy is None and dist.is_chief
    assert dist.broadcast([3, 4]) == [3, 4]


WEIGHT_DECAY_SCRIPT = r"""
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from zoo.training import L2SGD

def one_step(strategy):
    with strategy.scope():
        v = keras.Variable(np.full((2, 2), 2.0, "float32"))
        opt = L2SGD(0.1, momentum=0.0, l2=0.5)
        opt.build([v])

    @tf.function
    def step():
        strategy.run(lambda: opt.apply([tf.zeros((2, 2))], [v]))

    step()
    return float(keras.ops.convert_to_numpy(v)[0, 0]), strategy.num_replicas_in_sync

print(json.dumps([one_step(tf.distribute.get_strategy()),
                  one_step(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))]))
"""


def test_coupled_weight_decay_is_counted_once_over_replicas():
    """L2SGD adds l2 * w on every replica before the all-reduce sums the gradients: with a zero
    gradient, one step must decay w by lr * l2 * w once, on 1 replica and on 2 alike."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", WEIGHT_DECAY_SCRIPT], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (one, one_replicas), (two, two_replicas) = json.loads(done.stdout.strip().splitlines()[-1])
    assert (one_replicas, two_replicas) == (1, 2)
    assert one == two == pytest.approx(2.0 - 0.1 * 0.5 * 2.0)  # counted twice it would be 1.8


JAX_SCRIPT = r"""
import json, sys
import keras
from zoo.bench.spec import load_suite
from zoo.experiment import dataset as ds_spec
from zoo.experiment.distribute import make_distribution
from zoo.experiment.run import train_configuration

assert keras.backend.backend() == "jax"
suite = load_suite(sys.argv[1])
splits = ds_spec.load_splits(suite.dataset, suite.path, None)
out = []
for name in ("mirrored", "auto"):
    dist = make_distribution(name)
    _, row = train_configuration(suite.configurations()[0], splits, suite.training, suite.input_shape,
                                 progress=False, distribution=dist)
    out.append([dist.kind, dist.replicas, row["train_steps"], row["top1"], row["val_loss"]])
print(json.dumps(out))
"""


def test_jax_mirrored_is_keras_data_parallel(workdir):
    """On JAX, ``mirrored`` trains with keras.distribution.DataParallel (here over 2 host devices
    XLA is told to make) and matches the one-device run; ``auto`` without GPUs is that run."""
    pytest.importorskip("jax")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO),
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(workdir / "suite.toml")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (kind, replicas, steps, top1, loss), (kind1, replicas1, steps1, top1_1, loss1) = json.loads(
        done.stdout.strip().splitlines()[-1])
    assert (kind, replicas, kind1, replicas1) == ("data_parallel", 2, "default", 1)
    assert steps == steps1 == 8 and top1 == top1_1
    assert abs(loss - loss1) < 1e-3  # measured 3e-8
