"""`zoo tune`: spec checks, budget rejections, report, TensorBoard, kill-and-resume.

One small job on a generated image folder runs once per module (fixture ``finished``);
the other tests read its outputs. Models are convnets at 16 px with 2 classes.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.tune import check_feasible, load_spec, run_job
from zoo.tune.report import load_trials, trial_rows

REPO = Path(__file__).resolve().parents[1]

# convnet MACs at 16 px, widths 0.125 / 0.25 / 0.5 / 0.75 / 1.0:
#   standard  0.79M / 2.7M / 10.7M / 24M / 43M
#   separable 0.19M / 0.45M / 1.5M / 3.1M / 5.3M
# so the 1.6M budget rejects standard from width 0.25 and separable from width 0.75.
JOB = """
name = "{name}"
description = "test job"
model = "convnet"

[search]
tuner = "{tuner}"
max_trials = {max_trials}
seed = 0

[space]
conv = ["standard", "separable"]
width = [0.125, 0.25, 0.5, 0.75, 1.0]

[budget]
max_macs = 1.6e6
latency_warmup = 1
latency_iters = 2

[dataset]
name = "./images"
train_split = "train"
eval_split = "test"
image_size = 16

[recipe]
epochs = {epochs}
batch_size = 8
learning_rate = 0.05
"""


def make_images(root: Path, per_class: int, size: int = 16) -> None:
    """Two classes a model can tell apart: dark and bright noise."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", max(2, per_class // 3))):
        for label, (lo, hi) in {"dark": (0, 100), "bright": (150, 255)}.items():
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(lo, hi, size=(size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def write_job(folder: Path, name: str, tuner: str = "random", max_trials: int = 3, epochs: int = 1,
              extra: str = "") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(JOB.format(name=name, tuner=tuner, max_trials=max_trials, epochs=epochs) + extra)
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    make_images(root / "images", per_class=12)
    return root


@pytest.fixture(scope="module")
def finished(workdir):
    """A grid job, conv outermost: standard 0.125 trained, 0.25-1.0 rejected (4 in a row,
    keras-tuner alone would stop after 3), separable 0.125-0.5 trained: max_trials = 4 reached."""
    spec = load_spec(write_job(workdir, "small", tuner="grid", max_trials=4))
    report = run_job(spec, workdir / "runs", workdir / "results", verbose=0)
    return spec, report


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- spec checks: before any training ---------------------------------------------------


@pytest.mark.parametrize("edit, message", [
    (("conv = [", "colour = ["), "has no knob 'colour'"),
    (("[space]\nconv = [\"standard\", \"separable\"]\nwidth = [0.125, 0.25, 0.5, 0.75, 1.0]\n", "[space]\n"),
     "search space is empty"),
    (('tuner = "random"', 'tuner = "evolution"'), "invalid [search] tuner='evolution'"),
    (("max_trials = 3", "max_trials = 0"), "max_trials=0"),
    (("width = [0.125, 0.25, 0.5, 0.75, 1.0]", "width = []"), "empty list"),
    (("width = [0.125, 0.25, 0.5, 0.75, 1.0]", "width = { min = 1.0, max = 0.5 }"), "min <= max"),
    (("max_macs = 1.6e6", "max_flops = 1.6e6"), "unknown key(s) 'max_flops' in [budget]"),
    (('seed = 0', 'seed = 0\nobjective = "accuracy"'), "invalid [search] objective='accuracy'"),
])
def test_bad_specs_fail_on_load(tmp_path, edit, message):
    path = write_job(tmp_path, "bad")
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(ValueError, match=None) as err:
        load_spec(path)
    assert message in str(err.value)


def test_unknown_model_and_invalid_choice(tmp_path):
    path = write_job(tmp_path, "bad")
    path.write_text(path.read_text().replace('model = "convnet"', 'model = "shufflenet"')
                    .replace('conv = ["standard", "separable"]', "groups = [1, 5]"))
    with pytest.raises(ValueError, match=r"invalid groups value\(s\) \[5\]; allowed: one of \[1, 2, 3, 4, 8\]"):
        load_spec(path)
    path.write_text(path.read_text().replace('model = "shufflenet"', 'model = "shufflenett"'))
    with pytest.raises(ValueError, match="Unknown model 'shufflenett'"):
        load_spec(path)


def test_budget_that_excludes_everything_is_caught_before_search(workdir, tmp_path, capsys):
    from zoo.cli import main

    path = write_job(workdir, "impossible")
    path.write_text(path.read_text().replace("max_macs = 1.6e6", "max_macs = 1e5"))
    # Through the command: exit code 2, one line naming the cheapest point, no job folder.
    assert main(["tune", str(path), "--runs-dir", str(tmp_path / "runs"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "the budget excludes every configuration: checked 10 points (every configuration" in err
    assert "macs 195k > max_macs 100k" in err
    assert not (tmp_path / "runs").exists()


def test_value_the_builder_rejects_is_caught_before_search(workdir):
    from zoo.tune.spec import check_values

    path = write_job(workdir, "badvalue")
    path.write_text(path.read_text().replace("width = [0.125, 0.25, 0.5, 0.75, 1.0]", "width = [0.125, -1.0]"))
    spec = load_spec(path)
    with pytest.raises(ValueError, match=r"\[space\] width = -1.0 cannot be built.*invalid width=-1.0"):
        check_values(spec, num_classes=2)


def test_continuous_space_checks_the_cheapest_corner(workdir):
    path = write_job(workdir, "corner")
    path.write_text(path.read_text().replace("width = [0.125, 0.25, 0.5, 0.75, 1.0]", "width = { min = 0.3, max = 2.0 }")
                    .replace("max_macs = 1.6e6", "max_macs = 1e6"))
    spec = load_spec(path)
    assert spec.size() is None
    # separable at width 0.3 (the low corner, 820k MACs) fits 1M MACs; standard (5.2M) does not.
    result = check_feasible(spec, num_classes=2)
    assert result["feasible"] == {"width": 0.3, "conv": "separable"} and not result["exhaustive"]
    path.write_text(path.read_text().replace("max_macs = 1e6", "max_macs = 1e5"))
    with pytest.raises(ValueError, match="cheapest corner"):
        check_feasible(load_spec(path), num_classes=2)


def test_shipped_jobs_load():
    for name in ("quick", "shufflenet-groups", "mobilenet-width"):
        spec = load_spec(REPO / "tuning" / f"{name}.toml")
        assert spec.name == name and spec.budget.as_dict()
        assert spec.dataset["name"] == "cifar10"


# --- a finished job -----------------------------------------------------------------------


def test_every_configuration_recorded_with_rejections(finished):
    spec, report = finished
    rows = read_csv(report.with_suffix(".csv"))
    assert [(r["conv"], float(r["width"]), r["status"]) for r in rows] == [
        ("standard", 0.125, "trained"), ("standard", 0.25, "rejected"), ("standard", 0.5, "rejected"),
        ("standard", 0.75, "rejected"), ("standard", 1.0, "rejected"),
        ("separable", 0.125, "trained"), ("separable", 0.25, "trained"), ("separable", 0.5, "trained")]
    for r in rows:
        if r["status"] == "rejected":  # costs recorded, never trained, reason given
            assert float(r["macs"]) > 1.6e6 and r["val_accuracy"] == "" and r["epochs"] == ""
            assert "> max_macs 1.6M" in r["reason"] and int(r["params"]) > 0
        else:
            assert 0 <= float(r["val_accuracy"]) <= 1 and float(r["macs"]) <= 1.6e6
            assert int(r["params"]) > 0 and float(r["latency_ms"]) > 0 and r["epochs"] == "1"


def test_every_trained_trial_keeps_its_model(finished, workdir):
    """Trained trials are saved as checkpoints (class names inside); rejected ones are not."""
    import zoo
    from zoo.checkpoint import read_info

    spec, report = finished
    rows = read_csv(report.with_suffix(".csv"))
    folder = workdir / "runs" / spec.name / "checkpoints"
    saved = sorted(p.name for p in folder.glob("trial_*.keras"))
    assert saved == sorted(f"trial_{r['trial']}.keras" for r in rows if r["status"] == "trained")
    info = read_info(folder / saved[0])
    assert info["job"] == spec.name and len(info["class_names"]) >= 2
    assert zoo.load_model(folder / saved[0]).output_shape[-1] == len(info["class_names"])


def test_report_shows_best_pareto_and_rejections(finished):
    spec, report = finished
    text = report.read_text()
    rows = trial_rows(spec, load_trials(report.parent.parent / "runs" / spec.name))
    trained = [r for r in rows if r["status"] == "trained"]
    best = max(trained, key=lambda r: r["val_accuracy"])
    assert "4 trained + 4 rejected by the budget" in text
    assert "stopped because max_trials = 4 configurations were trained" in text
    best_section = text.split("## Best configurations")[1].split("##")[0]
    assert best_section.splitlines()[4].startswith(f"| {best['trial']} |")  # first row = best
    # The Pareto set: no trained row dominates a front row, and every non-front row is dominated.
    for r in trained:
        dominated = any(o["macs"] <= r["macs"] and o["val_accuracy"] >= r["val_accuracy"]
                        and (o["macs"] < r["macs"] or o["val_accuracy"] > r["val_accuracy"]) for o in trained)
        assert r["pareto_macs"] == (not dominated)
        section = text.split("versus MACs")[1].split("##")[0]
        assert (f"| {r['trial']} |" in section) == r["pareto_macs"]
    assert "## Rejected by the budget (4)" in text and "macs" in text.split("## Rejected")[1]
    png = report.with_suffix(".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensorboard_scalars_and_hparams(finished, workdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec, _ = finished
    tb = workdir / "runs" / spec.name / "tb"
    top = EventAccumulator(str(tb), size_guidance={"tensors": 0})
    top.Reload()
    assert "_hparams_/experiment" in top.Tags()["tensors"]
    trials = load_trials(workdir / "runs" / spec.name)
    trained = next(t for t in trials if t.status == "COMPLETED")
    run = EventAccumulator(str(tb / f"trial_{trained.trial_id}"), size_guidance={"tensors": 0})
    run.Reload()
    tags = run.Tags()["tensors"]
    assert {"_hparams_/session_start_info", "top1", "macs", "params", "latency_ms"} <= set(tags)
    assert any((tb / f"trial_{trained.trial_id}" / "validation").glob("events.*"))  # per-epoch scalars


def test_rerun_resumes_without_training_again(finished, workdir):
    spec, report = finished
    before = read_csv(report.with_suffix(".csv"))
    again = run_job(spec, workdir / "runs", workdir / "results", verbose=0)
    assert read_csv(again.with_suffix(".csv")) == before  # train_seconds would differ after retraining


def test_changed_spec_refuses_to_resume(finished, workdir):
    spec, _ = finished
    changed = spec.path.read_text().replace("learning_rate = 0.05", "learning_rate = 0.1")
    path = workdir / "changed" / "small.toml"
    path.parent.mkdir()
    path.write_text(changed)
    (workdir / "changed" / "images").symlink_to(workdir / "images")
    with pytest.raises(ValueError, match="changed since the job.*--restart"):
        run_job(load_spec(path), workdir / "runs", workdir / "results", verbose=0)


# --- kill mid-trial, rerun ------------------------------------------------------------------


def _statuses(project: Path) -> dict[str, str]:
    out = {}
    for f in project.glob("keras_tuner/trial_*/trial.json"):
        try:
            out[f.parent.name] = json.loads(f.read_text())["status"]
        except (json.JSONDecodeError, KeyError):
            pass  # being written
    return out


@pytest.mark.slow
def test_kill_mid_trial_and_resume(workdir):
    path = write_job(workdir, "killed", max_trials=2, epochs=3)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "zoo", "tune", str(path), "--runs-dir", str(workdir / "runs"),
           "--results-dir", str(workdir / "results"), "-q"]
    project = workdir / "runs" / "killed"
    proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        first = None
        while time.monotonic() < deadline and proc.poll() is None:
            st = _statuses(project)
            done = [t for t, s in st.items() if s == "COMPLETED"]
            if first is None and done:
                first = done[0]
            training = [t for t, s in st.items() if s == "RUNNING" and (project / "tb" / t / "train").is_dir()]
            if first is not None and training:
                break  # that trial is training (its TensorBoard run has started)
            time.sleep(0.2)
        assert proc.poll() is None, f"job ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        assert first is not None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    killed = [t for t, s in _statuses(project).items() if s == "RUNNING"]
    assert len(killed) == 1
    first_metrics = json.loads((project / "keras_tuner" / first / "trial.json").read_text())["metrics"]

    report = run_job(load_spec(path), workdir / "runs", workdir / "results", verbose=0)
    rows = read_csv(report.with_suffix(".csv"))
    ids = [r["trial"] for r in rows]
    assert len(ids) == len(set(ids))
    assert sum(r["status"] == "trained" for r in rows) == 2
    assert all(r["status"] in ("trained", "rejected") for r in rows)
    assert f"trial_{rows[ids.index(killed[0].removeprefix('trial_'))]['trial']}" == killed[0]
    assert rows[ids.index(killed[0].removeprefix("trial_"))]["status"] in ("trained", "rejected")
    # The trial finished before the kill was kept, not trained again.
    assert json.loads((project / "keras_tuner" / first / "trial.json").read_text())["metrics"] == first_metrics
    configs = [(r["conv"], r["width"]) for r in rows]
    assert len(configs) == len(set(configs))


# --- the shipped CI job on the shared data -------------------------------------------------


@pytest.mark.slow
@pytest.mark.data
def test_quick_job_on_shared_cifar10(shared_data, tmp_path, monkeypatch):
    from zoo.cli import main

    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data))
    assert main(["tune", str(REPO / "tuning" / "quick.toml"), "--runs-dir", str(tmp_path / "runs"),
                 "--results-dir", str(tmp_path / "results"), "-q"]) == 0
    rows = read_csv(tmp_path / "results" / "quick.csv")
    assert sum(r["status"] == "trained" for r in rows) == 3
    assert any(r["status"] == "rejected" for r in rows)
    text = (tmp_path / "results" / "quick.md").read_text()
    assert "## Pareto set: val_accuracy versus MACs" in text and "## Rejected by the budget" in text


# --- other tuners, report-only ------------------------------------------------------------


@pytest.mark.slow
def test_hyperband_trains_for_its_epoch_budgets(workdir):
    path = write_job(workdir, "hyperband", tuner="hyperband", max_trials=6, epochs=2)
    # Separable only (3 of 5 widths fit): a rejected configuration is never promoted, so a
    # bracket needs feasible ones to reach its 2-epoch round.
    path.write_text(path.read_text().replace("seed = 0", "seed = 0\noptions = { max_epochs = 2, factor = 2 }")
                    .replace('conv = ["standard", "separable"]', 'conv = ["separable"]'))
    report = run_job(load_spec(path), workdir / "runs", workdir / "results", verbose=0)
    rows = read_csv(report.with_suffix(".csv"))
    trained = [r for r in rows if r["status"] == "trained"]
    assert {r["epochs"] for r in trained} == {"1", "2"}
    assert all(float(r["macs"]) <= 1.6e6 for r in trained)


def test_max_rejected_ends_a_search_that_keeps_proposing_over_budget(workdir):
    path = write_job(workdir, "giveup", tuner="grid", max_trials=4)
    path.write_text(path.read_text().replace("seed = 0", "seed = 0\nmax_rejected = 2"))
    report = run_job(load_spec(path), workdir / "runs", workdir / "results", verbose=0)
    rows = read_csv(report.with_suffix(".csv"))
    assert [r["status"] for r in rows] == ["trained", "rejected", "rejected"]
    assert "stopped because max_rejected = 2 configurations were over budget" in report.read_text()


def test_resolution_sets_model_input_and_image_size(workdir):
    path = write_job(workdir, "resolution", tuner="grid", max_trials=2)
    path.write_text(path.read_text().replace('conv = ["standard", "separable"]', "resolution = [12, 16]")
                    .replace("width = [0.125, 0.25, 0.5, 0.75, 1.0]", "width = [0.125]"))
    report = run_job(load_spec(path), workdir / "runs", workdir / "results", verbose=0)
    rows = {int(r["resolution"]): r for r in read_csv(report.with_suffix(".csv"))}
    assert set(rows) == {12, 16} and all(r["status"] == "trained" for r in rows.values())
    assert rows[12]["params"] == rows[16]["params"]
    assert int(rows[12]["macs"]) < int(rows[16]["macs"])


def test_bayesian_search_runs_with_rejections(workdir):
    """Bayesian optimization (scikit-learn, a project dependency) also skips over-budget points."""
    spec = load_spec(write_job(workdir, "bayes", tuner="bayesian", max_trials=3))
    report = run_job(spec, workdir / "runs", workdir / "results", verbose=0)
    rows = read_csv(report.with_suffix(".csv"))
    trained = [r for r in rows if r["status"] == "trained"]
    assert len(trained) == 3
    assert all(int(r["macs"]) <= 1.6e6 for r in trained)
    assert len({(r["conv"], r["width"]) for r in trained}) == 3


def test_report_only_rewrites_the_report(finished, workdir, tmp_path):
    from zoo.cli import main

    spec, report = finished
    assert main(["tune", str(spec.path), "--report-only", "--runs-dir", str(workdir / "runs"),
                 "--results-dir", str(tmp_path)]) == 0
    assert (tmp_path / "small.csv").read_text() == report.with_suffix(".csv").read_text()
    assert main(["tune", str(spec.path), "--report-only", "--runs-dir", str(tmp_path / "none")]) == 2
