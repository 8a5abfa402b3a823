"""keras-tuner's distributed mode: a chief oracle and two workers on 127.0.0.1.

``zoo tune SPEC --workers 2`` starts the three processes itself; every trial must be
recorded exactly once (one id, one configuration, ended once), rejections included.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_tune import make_images, read_csv, write_job  # tests/ is on sys.path (rootdir conftest)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_chief_and_two_workers_record_each_trial_once(tmp_path):
    make_images(tmp_path / "images", per_class=8)
    path = write_job(tmp_path, "cluster", tuner="random", max_trials=3)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    for var in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(var, None)
    done = subprocess.run([sys.executable, "-m", "zoo", "tune", str(path), "--workers", "2",
                           "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    logs = {p.name: p.read_text() for p in (tmp_path / "runs" / "cluster" / "logs").glob("*.log")}
    assert done.returncode == 0, done.stderr[-3000:] + "\n".join(v[-2000:] for v in logs.values())
    assert set(logs) == {"chief.log", "tuner0.log", "tuner1.log"}

    project = tmp_path / "runs" / "cluster" / "keras_tuner"
    oracle = json.loads((project / "oracle.json").read_text())
    trial_ids = sorted(p.name.removeprefix("trial_") for p in project.glob("trial_*"))
    assert sorted(oracle["end_order"]) == trial_ids  # each trial ended exactly once
    assert oracle["ongoing_trials"] == {}

    rows = read_csv(tmp_path / "results" / "cluster.csv")
    assert sorted(r["trial"] for r in rows) == trial_ids
    configs = [(r["conv"], r["width"]) for r in rows]
    assert len(configs) == len(set(configs))  # no configuration run twice
    assert sum(r["status"] == "trained" for r in rows) == 3
    assert all(r["status"] in ("trained", "rejected") for r in rows)
    for r in rows:
        assert r["macs"] and (r["status"] == "rejected") == (float(r["macs"]) > 1.6e6)
    # Each trial ran on exactly one worker (workers log "tunerN: trial ID ...").
    ran = [re.findall(rf"^{w}: trial (\d+) ", logs[f"{w}.log"], re.M) for w in ("tuner0", "tuner1")]
    assert sorted(ran[0] + ran[1]) == trial_ids
    assert (tmp_path / "results" / "cluster.md").exists()

    # Resuming the finished job (here in one process) trains nothing again.
    from zoo.tune import load_spec, run_job

    report = run_job(load_spec(path), tmp_path / "runs", tmp_path / "results", verbose=0)
    assert read_csv(report.with_suffix(".csv")) == rows
