"""`zoo bench` end to end on a generated 3-class image folder, plus its building blocks.

The folder is tiny (3 classes x 12 images of 16x16) and the models are width 0.25, so
a whole suite trains in seconds; what is checked is the machinery: rows, tables, plots,
TensorBoard records, resuming after kill -9, locking and determinism.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zoo.experiment.report import pareto_front
from zoo.experiment.latency import measure_latency
from zoo.bench.lock import LOCK_NAME, RunnerBusyError, RunnerLock
from zoo.bench.results import append_row, read_rows, render_markdown
from zoo.bench.results import reading as res_reading
from zoo.bench.runner import BenchRunner, load_data, run_suite
from zoo.bench.spec import load_suite
from zoo.cli import main as zoo_main

REPO = Path(__file__).resolve().parents[1]

SUITE = """
name = "tiny"
description = "three colour classes, 16px"
[dataset]
name = "./tiny"
image_size = 16
[recipe]
epochs = 1
batch_size = 8
[run]
seeds = [0]
latency_warmup = 1
latency_iters = 3
throughput_batch = 4
[[models]]
name = "convnet"
width = 0.25
grid = { conv = ["standard", "separable"] }
[[models]]
name = "resnet20"
width = 0.25
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, colour_folders):
    """A suite file beside a 3-class folder: train 12 and test 6 noisy solid-colour images per class."""
    root = colour_folders(tmp_path_factory.mktemp("bench"))
    (root / "suite.toml").write_text(SUITE)
    return root


def write_suite(workdir, name, text):
    path = workdir / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def finished(workdir):
    """One complete in-process run of the suite."""
    out = workdir / "out"
    runner = run_suite(workdir / "suite.toml", out=out, progress=False)
    return runner, out


def subprocess_env():
    """This checkout's zoo first on the path, whichever one is installed."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", "PYTHONPATH": path}


def zoo_bench(*args, **kwargs):
    env = subprocess_env()
    return subprocess.Popen([sys.executable, "-m", "zoo", "bench", *map(str, args), "--no-progress"],
                            cwd=kwargs.get("cwd"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_for_first_row(proc, out, seconds=240):
    """Poll until the runner in ``proc`` has written its first row to ``out``."""
    deadline = time.monotonic() + seconds
    while not read_rows(out / "results.csv"):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, f"no row within {seconds} s"
        time.sleep(0.2)


# --- the whole runner ---------------------------------------------------------------


def test_results_files(finished):
    runner, out = finished
    rows = read_rows(out / "results.csv")
    assert [r["run_id"] for r in rows] == [c.run_id for c in runner.configs]
    for row in rows:
        assert row["dataset"] == "./tiny" and row["image_size"] == 16 and row["seed"] == 0
        assert 0 <= row["top1"] <= 1 and row["top5"] is None  # top-5 only with more than 10 classes
        assert row["params"] > 0 and row["macs"] > 0 and row["epochs"] == 1
        assert 0 < row["latency_ms"] <= row["latency_p90_ms"] and row["throughput"] > 0
        assert row["train_seconds"] > 0 and row["train_images_per_second"] > 0
    assert any(r["pareto"] for r in rows)
    # the cheapest configuration is always on the MACs front
    assert min(rows, key=lambda r: r["macs"])["pareto"]

    table = (out / "results.md").read_text()
    assert "`zoo bench " in table and "suite.toml" in table and "★" in table
    assert "3 classes, 16px" in table and "epochs=1, batch_size=8" in table
    assert table.count("| `convnet` |") == 2 and table.count("| `resnet20` |") == 1
    assert "**runs**: 3 of 3 finished\n" in table
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    env = json.loads((out / "env.json").read_text())
    for key in ("python", "tensorflow", "keras", "zoo", "git_commit", "git_dirty", "cpu_model",
                "tf_intra_op_threads", "suite_sha256", "seeds"):
        assert key in env
    assert env["dataset"]["train_fingerprint"] and env["dataset"]["class_names"] == ["class0", "class1", "class2"]
    # the record is committed beside the tables: no absolute paths of the machine in it
    assert not os.path.isabs(env["python_executable"])
    assert not env["dataset"]["source"].split(":", 1)[1].startswith("/")
    assert (out / "suite.toml").read_text() == SUITE
    assert not (out / LOCK_NAME).exists()


def _events(folder: Path):
    import tensorflow as tf

    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            yield from event.summary.value


def test_tensorboard_records(finished):
    import tensorflow as tf

    runner, out = finished
    tb = out / "tb"
    top = [v for v in _events(tb) if v.metadata.plugin_data.plugin_name == "hparams"]
    assert top, "no hparams_config at the top of tb/"
    for cfg in runner.configs:
        run_dir = tb / cfg.run_id
        values = list(_events(run_dir))
        assert any(v.metadata.plugin_data.plugin_name == "hparams" for v in values)
        scalars = {v.tag: float(tf.make_ndarray(v.tensor)) for v in values if v.tag in ("top1", "macs")}
        assert set(scalars) == {"top1", "macs"}
        # per-epoch training and validation scalars from train_and_evaluate's TensorBoard callback
        assert list((run_dir / "train").glob("events.out.tfevents.*"))
        assert list((run_dir / "validation").glob("events.out.tfevents.*"))
    images = [v for v in _events(tb / "pareto") if v.metadata.plugin_data.plugin_name == "images"]
    assert len(images) == len(runner.configs)  # refreshed after every run


def test_rerun_skips_finished_runs(finished, workdir):
    runner, out = finished
    before = (out / "results.csv").read_text()
    run_suite(workdir / "suite.toml", out=out, progress=False)
    assert (out / "results.csv").read_text() == before


def test_changed_recipe_refuses_to_mix(finished, workdir):
    _, out = finished
    changed = write_suite(workdir, "changed.toml", SUITE.replace("epochs = 1", "epochs = 2"))
    with pytest.raises(ValueError, match="different dataset/recipe.*--restart"):
        BenchRunner(changed, out=out).check_output(restart=False)
    BenchRunner(changed, out=out).check_output(restart=True)  # allowed: --restart starts over


def test_reuse_copies_identical_runs_from_a_sibling_suite(finished, workdir):
    """[run] reuse: a run id already finished next door is copied, the rest trained here."""
    import shutil

    runner, out = finished
    root = workdir / "siblings"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(out, root / "tiny")
    other = SUITE.replace('name = "tiny"', 'name = "other"', 1).replace(
        "latency_iters = 3", 'latency_iters = 3\nreuse = ["tiny"]').replace(
        'grid = { conv = ["standard", "separable"] }', 'grid = { conv = ["standard", "grouped"] }')
    other_runner = run_suite(write_suite(workdir, "other.toml", other), out=root / "other", progress=False)
    rows = {r["run_id"]: r for r in read_rows(root / "other" / "results.csv")}
    theirs = {r["run_id"]: r for r in read_rows(out / "results.csv")}
    assert set(rows) == {c.run_id for c in other_runner.configs}
    shared = set(rows) & set(theirs)
    assert len(shared) == 2  # convnet standard and resnet20: same knobs, seed, data and recipe
    for run_id in shared:
        assert rows[run_id]["top1"] == theirs[run_id]["top1"]
        assert rows[run_id]["finished_at"] == theirs[run_id]["finished_at"]  # copied, not retrained
        assert (root / "other" / "tb" / run_id).is_dir()
    (new,) = set(rows) - shared
    assert rows[new]["config"] == 'width=0.25;conv="grouped"'
    assert "copied from there" in (root / "other" / "results.md").read_text()


def test_per_model_recipe_overrides(workdir):
    """A [[models]] recipe table changes that entry's run id and config, nobody else's."""
    base = load_suite(workdir / "suite.toml")
    text = SUITE.replace('name = "resnet20"\n', 'name = "resnet20"\nrecipe = { learning_rate = 0.01 }\n')
    changed = load_suite(write_suite(workdir, "override.toml", text))
    before = {c.model: c for c in base.configurations()}
    after = {c.model: c for c in changed.configurations()}
    assert after["convnet"].run_id == before["convnet"].run_id
    assert after["resnet20"].run_id != before["resnet20"].run_id
    assert after["resnet20"].recipe == {"learning_rate": 0.01}
    assert after["resnet20"].config == "width=0.25; recipe: learning_rate=0.01"
    for bad, message in (("{ learnin_rate = 0.01 }", "unknown recipe key 'learnin_rate'.*learning_rate"),
                         ("{}", "recipe must be a non-empty table"),
                         ('{ optimizer = "lion" }', "optimizer")):
        path = write_suite(workdir, "bad_override.toml", SUITE.replace(
            'name = "resnet20"\n', f'name = "resnet20"\nrecipe = {bad}\n'))
        with pytest.raises(ValueError, match=message):
            load_suite(path)


def test_rows_the_suite_no_longer_lists_leave_the_table(finished, workdir):
    """A grid shrunk after a run finished: the row stays in results.csv, not in results.md."""
    import shutil

    _, out = finished
    copy = workdir / "shrunk_out"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(out, copy)
    shrunk = write_suite(workdir, "shrunk.toml", SUITE.replace('conv = ["standard", "separable"]', 'conv = ["standard"]'))
    runner = run_suite(shrunk, out=copy, progress=False)
    assert len(read_rows(copy / "results.csv")) == 3
    table = (copy / "results.md").read_text()
    assert "separable" not in table.split("|---")[1]
    assert "2 of 2 finished" in table and "1 row(s) of configurations this suite no longer lists" in table
    assert len(runner.configs) == 2


def test_lost_environment_record_falls_back_to_run_ids(finished, workdir, tmp_path):
    import shutil

    _, out = finished
    copy = tmp_path / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("tb", "*.lock"))
    (copy / "env.json").unlink()
    BenchRunner(workdir / "suite.toml", out=copy).check_output(restart=False)  # same suite: resumes
    changed = write_suite(workdir, "changed2.toml", SUITE.replace("epochs = 1", "epochs = 2"))
    with pytest.raises(ValueError, match="different dataset/recipe"):
        BenchRunner(changed, out=copy).check_output(restart=False)


def test_dry_run_shows_plan_and_trains_nothing(finished, workdir, capsys):
    _, out = finished
    fresh = workdir / "dry"
    assert zoo_main(["bench", str(workdir / "suite.toml"), "--out", str(fresh), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "3 runs" in plan and "resnet20(width=0.25)" in plan and "dry run" in plan
    assert not fresh.exists()
    assert zoo_main(["bench", str(workdir / "suite.toml"), "--out", str(out), "--dry-run"]) == 0
    assert "3 already finished" in capsys.readouterr().out


@pytest.mark.parametrize("edit, message", [
    (('width = 0.25\ngrid', 'width = -0.25\ngrid'), "width"),
    (("epochs = 1", "epochs = 1\nepoch = 2"), "unknown recipe key 'epoch'"),
    (('name = "./tiny"', 'name = "./missing"'), "missing"),
    (("image_size = 16", "image_size = 16\nsubset = { per_klass = 2 }"), "unknown subset key 'per_klass'"),
])
def test_bad_input_fails_before_training(workdir, edit, message):
    path = write_suite(workdir, "bad.toml", SUITE.replace(*edit, 1))
    out = workdir / "bad-out"
    with pytest.raises((ValueError, TypeError, FileNotFoundError), match=message):
        run_suite(path, out=out, progress=False)
    assert not (out / "results.csv").exists() and not (out / "tb").exists()
    assert not (out / LOCK_NAME).exists()


def test_subset_classes_apply_to_both_splits(workdir):
    path = write_suite(workdir, "two.toml", SUITE.replace(
        "image_size = 16", 'image_size = 16\nsubset = { classes = ["class2", "class0"], per_class = 5 }'))
    train, val, recipe = load_data(load_suite(path), None)
    assert train.class_names == val.class_names == ["class2", "class0"]
    assert (train.num_examples, val.num_examples, recipe.epochs) == (10, 12, 1)


def test_kill_and_resume_finishes_each_run_once(finished, workdir):
    """SIGKILL after the first row, run again: every configuration appears exactly once,
    with the same accuracy as the in-process run (same seed, same machine)."""
    runner, first_out = finished
    out = workdir / "killed"
    wanted = [c.run_id for c in runner.configs if c.model == "convnet"]  # two runs keep it quick
    proc = zoo_bench("suite.toml", "--out", "killed", "--only", "convnet", cwd=workdir)
    wait_for_first_row(proc, out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / LOCK_NAME).exists()  # the killed runner could not clean up
    assert len(read_rows(out / "results.csv")) < len(wanted)

    again = zoo_bench("suite.toml", "--out", "killed", "--only", "convnet", cwd=workdir)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "stale lock" in err

    rows = read_rows(out / "results.csv")
    ids = [r["run_id"] for r in rows]
    assert sorted(ids) == sorted(wanted) and len(set(ids)) == len(ids)
    reference = {r["run_id"]: r["top1"] for r in read_rows(first_out / "results.csv")}
    for row in rows:
        assert abs(row["top1"] - reference[row["run_id"]]) <= 0.001, row["model"]
    with open(out / "results.csv", newline="") as f:
        assert len(list(csv.reader(f))) == len(wanted) + 1
    for run_id in wanted:  # one file each for hparams, train, validation: the interrupted attempt's are gone
        assert len(list((out / "tb" / run_id).rglob("events.out.tfevents.*"))) == 3
    # The table covers the whole suite: its header gives the whole suite's command, not --only's.
    reproduce = next(line for line in (out / "results.md").read_text().splitlines() if "**reproduce**" in line)
    assert "zoo bench suite.toml`" in reproduce and "--only" not in reproduce


def test_second_runner_is_refused(workdir, capsys):
    out = workdir / "locked"
    with RunnerLock(out):
        code = zoo_main(["bench", str(workdir / "suite.toml"), "--out", str(out)])
        assert code == 3
        err = capsys.readouterr().err
        assert f"PID {os.getpid()}" in err and "another zoo bench runner" in err
    assert not (out / LOCK_NAME).exists()


def test_stale_lock_is_taken_over(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    (tmp_path / LOCK_NAME).write_text(f"{dead.pid} {socket.gethostname()}\n")
    with RunnerLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert "stale lock" in capsys.readouterr().err
    with RunnerLock(tmp_path), pytest.raises(RunnerBusyError):
        RunnerLock(tmp_path).acquire()


# --- building blocks ----------------------------------------------------------------


def test_pareto_front():
    points = [(10, 0.5), (20, 0.6), (15, 0.4), (20, 0.6), (5, None), (30, 0.55)]
    assert pareto_front(points) == [True, True, False, True, False, False]


def test_append_row_replaces_same_run_id(tmp_path):
    base = {"model": "m", "config": "width=1", "seed": 0, "params": 10, "macs": 100, "top1": 0.5}
    append_row(tmp_path / "r.csv", {**base, "run_id": "a"})
    append_row(tmp_path / "r.csv", {**base, "run_id": "b", "config": "width=2", "macs": 200, "top1": 0.7})
    rows = append_row(tmp_path / "r.csv", {**base, "run_id": "a", "top1": 0.8})
    assert [(r["run_id"], r["top1"]) for r in read_rows(tmp_path / "r.csv")] == [("b", 0.7), ("a", 0.8)]
    assert [r["pareto"] for r in rows] == [False, True]  # b: costlier and less accurate than the new a
    assert not list(tmp_path.glob(".*tmp"))


def test_markdown_averages_seeds_and_sorts_by_macs():
    rows = [{"run_id": f"{m}{s}", "model": m, "config": "", "seed": s, "params": p, "macs": c,
             "top1": t, "latency_ms": 1.0, "latency_p90_ms": 2.0, "throughput": 5.0, "train_seconds": 3.0}
            for m, s, p, c, t in (("big", 0, 2_000_000, 9_000_000, 0.9), ("big", 1, 2_000_000, 9_000_000, 0.8),
                                  ("small", 0, 1_000_000, 1_000_000, 0.5))]
    table = render_markdown(rows, {"reproduce": "`zoo bench x.toml`"}, "t")
    body = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert "`small`" in body[0] and "`big`" in body[1]
    assert "85.00 ± 7.07" in body[1] and body[1].rstrip().endswith("| 2 |")
    assert "**reproduce**: `zoo bench x.toml`" in table


def test_measure_latency():
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D()])
    stats = measure_latency(model, batch_size=2, warmup=1, iters=5)
    assert 0 < stats["latency_ms"] <= stats["latency_p90_ms"]
    assert stats["images_per_second"] == pytest.approx(2000 / stats["latency_ms"])
    assert stats["batch_size"] == 2 and stats["iters"] == 5
    with pytest.raises(ValueError, match="iters=0"):
        measure_latency(model, iters=0)


@pytest.mark.slow
@pytest.mark.data
def test_quick_suite_on_shared_cifar10(shared_data, tmp_path):
    out = tmp_path / "quick"
    proc = subprocess.run([sys.executable, "-m", "zoo", "bench", str(REPO / "benchmarks" / "quick.toml"),
                           "--out", str(out), "--data-dir", str(shared_data), "--no-progress"],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"tensorboard --logdir {out / 'tb'}" in proc.stdout
    rows = read_rows(out / "results.csv")
    assert len(rows) == 6 and {r["model"] for r in rows} == {"convnet", "resnet20", "shufflenet", "mobilenet"}
    # The main job's first impression: every row clearly above chance (10 classes: 10%). Measured
    # 26.5-36.5% on the shared 2-core machine; 0.18 leaves room for another machine's numerics.
    assert all(0.18 <= r["top1"] <= 1 and r["top5"] is None and r["latency_ms"] > 0 for r in rows), \
        [(r["model"], r["config"], r["top1"]) for r in rows]
    assert "all 6 configurations above chance (10%)" in proc.stdout
    # The main job's deploy columns: float32 TFLite scores as Keras does, int8 close to it.
    assert all(abs(r["tflite_float32_top1"] - r["top1"]) <= 0.02 and abs(r["tflite_int8_top1"] - r["top1"]) <= 0.1
               for r in rows), [(r["model"], r["top1"], r["tflite_float32_top1"], r["tflite_int8_top1"]) for r in rows]
    table = (out / "results.md").read_text()
    assert "CIFAR-10 (JPEG copy" in table and "train 1000 images (subset per_class=100, seed=0)" in table
    assert "ZOO_DATA_DIR=" in table and "zoo bench" in table


def test_diverged_run_is_recorded_as_failed_not_ranked(workdir, capsys):
    """learning_rate = 1e30 makes the loss infinite: training stops, the row says why, it is never
    ranked or on a Pareto front, a rerun keeps it, and --retry-failed trains it again."""
    text = SUITE.replace("[recipe]\n", "[recipe]\nlearning_rate = 1e30\n").replace(
        '[[models]]\nname = "resnet20"\nwidth = 0.25\n', "")
    path = write_suite(workdir, "diverge.toml", text.replace('grid = { conv = ["standard", "separable"] }',
                                                              'conv = "standard"'))
    out = workdir / "out-diverge"
    run_suite(path, out=out, progress=False)
    (row,) = read_rows(out / "results.csv")
    assert row["status"] == "diverged" and "loss became" in row["reason"]
    assert row["top1"] is None and not row["pareto"] and not row["pareto_latency"]
    table = (out / "results.md").read_text()
    assert "Failed runs (1)" in table and row["run_id"] in table and "| `convnet` |" not in table
    assert "--retry-failed" in capsys.readouterr().err
    finished_at = row["finished_at"]
    run_suite(path, out=out, progress=False)  # kept, not retried
    assert read_rows(out / "results.csv")[0]["finished_at"] == finished_at
    assert BenchRunner(path, out).finished_ids() == {row["run_id"]}
    assert BenchRunner(path, out, retry_failed=True).finished_ids() == set()  # --retry-failed trains it again


def test_truncated_last_row_runs_again(finished, workdir, capsys):
    """A results.csv whose last row was cut short (a full disk, a copy gone wrong) does not count
    that run as finished: the row is ignored with a warning naming the line."""
    runner, out = finished
    text = (out / "results.csv").read_text()
    lines = text.splitlines()
    damaged = workdir / "damaged"
    damaged.mkdir()
    (damaged / "results.csv").write_text("\n".join(lines[:-1] + [lines[-1][: len(lines[-1]) // 2]]))
    rows = read_rows(damaged / "results.csv")
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in read_rows(out / "results.csv")][:-1]
    assert f"results.csv:{len(lines)}: row" in capsys.readouterr().err


@pytest.mark.parametrize("column, value, message", [
    ("epochs", "ten", "column 'epochs' holds 'ten', not a number"),
    ("knobs", "{width", "column 'knobs' is not valid JSON"),
])
def test_unparsable_results_name_file_and_line(finished, tmp_path, column, value, message):
    _, out = finished
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[1][column] = value
    with open(tmp_path / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ValueError, match=r"results.csv:3: " + message):
        read_rows(tmp_path / "results.csv")


def test_broken_env_json_names_file_and_line(finished, workdir, tmp_path, capsys):
    _, out = finished
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "env.json").write_text('{\n  "suite": "tiny",\n  oops\n}\n')
    code = zoo_main(["bench", str(workdir / "suite.toml"), "--out", str(copy), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "env.json:3:3: not valid JSON" in err and "Traceback" not in err
    assert not (copy / LOCK_NAME).exists()


@pytest.mark.parametrize("contents", ["", "garbage\n", "{live} elsewhere-host\n"])
def test_lock_no_runner_holds_is_taken_over(tmp_path, capsys, contents):
    """Empty, garbage, or the live PID of another program (here: this very test process on another
    "host"): no runner holds the OS lock, so it is taken; a held one is still refused."""
    (tmp_path / LOCK_NAME).write_text(contents.format(live=os.getpid()))
    with RunnerLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
        with pytest.raises(RunnerBusyError):
            RunnerLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()


def test_sigterm_stops_like_ctrl_c_and_keeps_rows(finished, workdir):
    """SIGTERM mid-suite: a message, exit 130, the lock released, finished rows kept."""
    out = workdir / "terminated"
    proc = zoo_bench("suite.toml", "--out", "terminated", cwd=workdir)
    wait_for_first_row(proc, out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted; finished results are kept" in err, err[-2000:]
    assert read_rows(out / "results.csv") and not (out / LOCK_NAME).exists()


@pytest.mark.parametrize("setup, message", [
    ("file", "it is a file, not a folder"),
    ("readonly", "cannot"),
])
def test_unwritable_output_is_a_clear_error(workdir, tmp_path, capsys, setup, message):
    target = tmp_path / "out"
    if setup == "file":
        target.write_text("not a folder")
    elif os.geteuid() != 0:
        target.mkdir()
        target.chmod(0o500)
    else:  # root ignores permissions, but not /proc, where no folder can be made
        target = Path("/proc/zoo-bench-test-out")
        if not Path("/proc/self").exists():
            pytest.skip("no /proc to stand in for a read-only folder")
    code = zoo_main(["bench", str(workdir / "suite.toml"), "--out", str(target), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and str(target) in err and "Traceback" not in err
    assert not list(tmp_path.glob("**/.*.tmp"))


def test_reading_names_best_front_and_chance():
    rows = [{"run_id": f"r{i}", "model": m, "config": c, "seed": 0, "top1": t, "macs": macs, "latency_ms": 1.0,
             "params": 1, "status": "ok"} for i, (m, c, t, macs) in enumerate(
                 [("a", "w=1", 0.60, 10e6), ("b", "", 0.40, 2e6), ("c", "", 0.05, 1e6)])]
    line = res_reading(rows, 10)
    assert line.startswith("reading: best top-1 60.0% by a(w=1) at 10.0M MACs")
    assert "cheapest on the MACs front: c, 5.0% at 1.0M MACs" in line
    assert "1 of 3 at or below chance (10%): c" in line
    assert "all 2 configurations above chance" in res_reading(rows[:2], 10)


def test_every_run_leaves_a_checkpoint_that_predicts(finished, workdir, capsys):
    """Each row points to its trained model: loadable, 0-255 RGB in, class names inside, the same
    predictions as training measured; `zoo predict` labels images with it."""
    import zoo
    from zoo.checkpoint import read_info

    runner, out = finished
    rows = read_rows(out / "results.csv")
    for row in rows:
        path = out / row["checkpoint"]
        assert path.is_file() and row["checkpoint"] == f"checkpoints/{row['run_id']}.keras"
        info = read_info(path)
        assert info["class_names"] == ["class0", "class1", "class2"] and info["run_id"] == row["run_id"]
        assert info["preprocessing"] == "torch" and info["top1"] == pytest.approx(row["top1"], abs=1e-6)
    model = zoo.load_model(out / rows[0]["checkpoint"])
    images = runner.val_ds.pipeline(64, training=False, normalize=False)  # [0, 1] floats, file order
    x, y = next(iter(images))
    accuracy = float(np.mean(np.argmax(model.predict(np.asarray(x) * 255.0, verbose=0), -1) == np.asarray(y)))
    assert accuracy == pytest.approx(rows[0]["top1"], abs=1e-6)  # the whole test split is one batch here

    code = zoo_main(["predict", str(out / rows[0]["checkpoint"]), str(workdir / "tiny" / "test" / "class1"),
                     "--top", "2", "--json"])
    assert code == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 6 and all(len(r["predictions"]) == 2 for r in records)
    assert {p["label"] for r in records for p in r["predictions"]} <= {"class0", "class1", "class2"}
    assert all(abs(sum(p["probability"] for p in r["predictions"]) - 1) < 1 + 1e-6 for r in records)


def test_predict_refuses_bad_input(finished, tmp_path, capsys):
    _, out = finished
    checkpoint = out / read_rows(out / "results.csv")[0]["checkpoint"]
    assert zoo_main(["predict", str(checkpoint), str(tmp_path / "missing.png")]) == 2
    assert "no such image or folder" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert zoo_main(["predict", str(checkpoint), str(tmp_path / "bad.png")]) == 2
    assert "cannot read image" in capsys.readouterr().err


def test_fine_tune_entry_starts_from_a_checkpoint(finished, workdir):
    """A suite entry with weights = a zoo bench checkpoint: new head for the data's classes, one
    head-only epoch, then the whole network; saved and reported like any other run."""
    import zoo

    _, out = finished
    source = next(r for r in read_rows(out / "results.csv") if r["config"] == 'width=0.25;conv="standard"')
    text = SUITE.split("[[models]]")[0].replace("epochs = 1", "epochs = 2\nhead_epochs = 1").replace(
        "image_size = 16", "image_size = 24")  # another resolution: the backbone is rebuilt for it
    text += (f'[[models]]\nname = "convnet"\nwidth = 0.25\nconv = "standard"\n'
             f'weights = "out/checkpoints/{source["run_id"]}.keras"\n')
    path = write_suite(workdir, "finetune.toml", text)
    run_suite(path, out=workdir / "out-finetune", progress=False)
    (row,) = read_rows(workdir / "out-finetune" / "results.csv")
    assert row["status"] == "ok" and row["epochs"] == 2 and row["weights"].endswith(".keras")
    assert 0 <= row["head_top1"] <= 1 and 0 <= row["top1"] <= 1 and row["run_id"] != source["run_id"]
    assert "weights: out/checkpoints/" in row["config"]
    model = zoo.load_model(workdir / "out-finetune" / row["checkpoint"])
    assert model.input_shape == (None, 24, 24, 3) and model.output_shape == (None, 3)

    bad = text.replace(source["run_id"], "nope")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_suite(write_suite(workdir, "finetune-bad.toml", bad))
    wrong = text.replace('conv = "standard"', 'conv = "separable"')
    with pytest.raises(ValueError, match="is a checkpoint of convnet"):
        load_suite(write_suite(workdir, "finetune-wrong.toml", wrong))


def test_intervals_and_ties_with_several_seeds():
    """With several seeds the table gives each configuration's 95% t interval, and a configuration
    dominated only within the seed noise is marked tied (≈); one seed keeps the old table."""
    from zoo.experiment.stats import interval95

    def rows(values):
        return [{"run_id": f"{m}{s}", "model": m, "config": "", "seed": s, "params": 1, "macs": macs,
                 "top1": t, "latency_ms": 1.0, "latency_p90_ms": 1.0, "status": "ok"}
                for m, macs, tops in values for s, t in enumerate(tops)]

    table = render_markdown(rows([("cheap", 1e6, [0.60, 0.62, 0.64]), ("close", 2e6, [0.58, 0.61, 0.62]),
                                  ("far", 3e6, [0.40, 0.41, 0.42])]), {}, "t")
    lo, hi = interval95(0.62, 0.02, 3)
    assert "95% CI" in table and f"{100 * lo:.2f}–{100 * hi:.2f}" in table
    assert "| ★☆ | `cheap` |" in table and "| ≈ | `close` |" in table and "|  | `far` |" in table
    single = render_markdown(rows([("cheap", 1e6, [0.6]), ("close", 2e6, [0.59])]), {}, "t")
    assert "95% CI" not in single and "≈" not in single


RESUME_SUITE = """
name = "resume"
[dataset]
name = "./tiny"
image_size = 16
[recipe]
epochs = 4
batch_size = 8
warmup_epochs = 1
[run]
seeds = [0]
latency = false
[[models]]
name = "resnet20"
width = 0.25
dropout = 0.5
"""

# `zoo bench` with the per-epoch backup wrapped: the process SIGKILLs itself once epoch 2's is written.
KILL_AFTER_EPOCH_2 = """
import os, signal, sys
from zoo import resume
from zoo.cli import main

write = resume.EpochBackup.on_epoch_end
def on_epoch_end(self, epoch, logs=None):
    write(self, epoch, logs)
    if epoch == 1:
        os.kill(os.getpid(), signal.SIGKILL)
resume.EpochBackup.on_epoch_end = on_epoch_end
sys.exit(main(sys.argv[1:]))
"""


def _epoch_steps(folder: Path) -> list[list[int]]:
    """The epochs each TensorBoard event file of ``folder`` logged, file by file."""
    import tensorflow as tf

    return [sorted({e.step for e in tf.compat.v1.train.summary_iterator(str(p))
                    if any(v.tag == "epoch_loss" for v in e.summary.value)})
            for p in sorted(folder.glob("events.out.tfevents.*"))]


def test_sigkill_mid_run_resumes_from_the_last_epoch_with_the_same_result(workdir, capsys):
    """Killed after epoch 2 of 4, the rerun trains epochs 3 and 4 only, and its row equals an
    uninterrupted run's to the last bit (weights with dropout, BatchNorm, momentum, data order)."""
    write_suite(workdir, "resume.toml", RESUME_SUITE)
    env = subprocess_env()
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_EPOCH_2, "bench", "resume.toml", "--out", "resumed",
                             "--no-progress"], cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    out = workdir / "resumed"
    assert not read_rows(out / "results.csv")
    (run_id,) = [p.name for p in (out / "resume").iterdir()]
    assert _epoch_steps(out / "tb" / run_id / "train") == [[0, 1]]

    run_suite(workdir / "resume.toml", out=out, progress=False)  # the rerun, here: one TensorFlow start less
    assert "resuming from epoch 2 of 4" in capsys.readouterr().err
    (row,) = read_rows(out / "results.csv")
    assert row["epochs"] == 4
    assert not (out / "resume" / run_id).exists()  # the row is written: the backup is gone
    for part in ("train", "validation"):  # the killed attempt's epochs kept, then only 3 and 4 trained
        assert _epoch_steps(out / "tb" / run_id / part) == [[0, 1], [2, 3]]

    run_suite(workdir / "resume.toml", out=workdir / "uninterrupted", progress=False)
    (reference,) = read_rows(workdir / "uninterrupted" / "results.csv")
    assert 0 < row["top1"] < 1  # a result the data order can move
    for key in ("top1", "val_loss", "train_top1"):
        assert row[key] == reference[key], key
