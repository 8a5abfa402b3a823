"""zoo fidelity: tau-b is right (ties too), pairs match by structure, flips and claim f are reported,
and bad input directories give one clear error. Fixture results directories, no training."""

import json
import math
import random

import pytest

from zoo.bench import fidelity as F
from zoo.bench.results import write_rows
from zoo.bench.spec import load_suite
from zoo.cli import main

HEAD = """name = "{name}"
description = "{name} fixture"

[dataset]
name = "cifar10"
train_split = "train"
eval_split = "test"
image_size = 32
{subset}
[recipe]
epochs = {epochs}

[run]
seeds = {seeds}
latency = false
"""
# The short suite: a grid, and SqueezeNet at two learning rates (only the override pairs).
SHORT_MODELS = """
[[models]]
name = "convnet"
width = 0.5
grid = { conv = ["standard", "dilated", "grouped", "separable"] }

[[models]]
name = "squeezenet1_1"

[[models]]
name = "squeezenet1_1"
recipe = { learning_rate = 0.01 }

[[models]]
name = "alexnet"
norm = "bn"
fc_units = 512
groups = 2
"""
LADDER = {"convnet": """
[[models]]
name = "convnet"
width = 0.5
grid = { conv = ["standard", "dilated", "grouped", "separable"] }
""", "claim": """
[[models]]
name = "alexnet"
norm = "bn"
fc_units = 512
groups = 2

[[models]]
name = "squeezenet1_1"
recipe = { learning_rate = 0.01 }
"""}
PARAMS = {"alexnet": 61_000_000, "squeezenet1_1": 1_200_000}  # analytic stand-ins: no model is built


def results_dir(path, name, models, top1, *, epochs, seeds=(0,), subset="", status=None):
    """A ``zoo bench`` output folder: suite.toml, env.json and results.csv rows for the planned
    run ids whose ``label`` (or ``(label, seed)``) has a top-1 in ``top1``; ``status`` by ``(label, seed)``."""
    path.mkdir(parents=True)
    (path / "suite.toml").write_text(HEAD.format(name=name, subset=subset, epochs=epochs, seeds=list(seeds)) + models)
    (path / "env.json").write_text(json.dumps({"suite_file": f"benchmarks/{name}.toml", "command": f"zoo bench {name}",
                                               "dataset": {"train_examples": 500, "eval_examples": 100}}))
    rows = []
    for cfg in load_suite(path / "suite.toml").configurations():
        value = top1.get((cfg.label, cfg.seed), top1.get(cfg.label))
        if value is None:
            continue
        rows.append({"run_id": cfg.run_id, "model": cfg.model, "config": cfg.config, "knobs": dict(cfg.knobs),
                     "recipe_overrides": dict(cfg.recipe), "seed": cfg.seed, "top1": value, "params": 1000,
                     "macs": 1000, "status": (status or {}).get((cfg.label, cfg.seed), "ok")})
    write_rows(path / "results.csv", rows)
    return path


C = {k: f'convnet(width=0.5;conv="{k}")' for k in ("standard", "dilated", "grouped", "separable")}
SQ, SQ_LR, ALEX = "squeezenet1_1", "squeezenet1_1(recipe: learning_rate=0.01)", 'alexnet(norm="bn";fc_units=512;groups=2)'


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    top1 = {C["standard"]: 0.60, C["dilated"]: 0.62, C["grouped"]: 0.55, C["separable"]: 0.58,
            SQ: 0.10, SQ_LR: 0.40, ALEX: 0.61}
    return results_dir(tmp_path_factory.mktemp("s") / "short", "short", SHORT_MODELS, top1, epochs=2,
                       subset="subset = { per_class = 50, seed = 0 }")


def test_tau_b_matches_a_hand_count_and_scipy_with_ties():
    k = F.kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4])
    assert (k.concordant, k.discordant, k.tau) == (5, 1, pytest.approx(4 / 6))
    # one tie in each list, different pairs: C = 4, D = 0, P = 6 -> 4 / sqrt(5 * 5)
    k = F.kendall_tau_b([1, 1, 2, 3], [1, 2, 2, 3])
    assert (k.concordant, k.discordant, k.tied_x, k.tied_y, k.tau) == (4, 0, 1, 1, pytest.approx(0.8))
    assert F.kendall_tau_b([0.5], [0.7]).tau is None and F.kendall_tau_b([1, 1, 1], [1, 2, 3]).tau is None
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    for n in (2, 3, 5, 10):
        x, y = [rng.randint(0, 3) for _ in range(n)], [rng.randint(0, 3) for _ in range(n)]
        ours, theirs = F.kendall_tau_b(x, y).tau, stats.kendalltau(x, y, variant="b").statistic
        assert (ours is None and math.isnan(theirs)) or ours == pytest.approx(theirs)


def test_report_ranks_pairs_flips_and_what_is_pending(short, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # two seeds: grouped's second diverged (left out), dilated's second is not trained yet, separable not at all
    full = results_dir(tmp_path / "full", "ladder", LADDER["convnet"] + LADDER["claim"],
                       {C["standard"]: 0.80, (C["dilated"], 0): 0.79, (C["grouped"], 0): 0.81, (C["grouped"], 1): 0.10},
                       epochs=4, seeds=(0, 1), status={(C["grouped"], 1): "diverged"})
    text, fid = F.fidelity_report(short, full, tmp_path / "fidelity.md", params=PARAMS)
    # short means: dilated .62 > standard .60 > grouped .55; full: grouped .81 > standard .80 > dilated .79
    assert [p.name for p in fid.pairs] == [C["grouped"], C["standard"], C["dilated"]]
    assert [(p.short_rank, p.full_rank) for p in fid.pairs] == [(3, 1), (2, 2), (1, 3)]
    assert fid.kendall.tau == pytest.approx(-1.0) and fid.kendall.discordant == 3
    assert [(f.above.name, f.below.name) for f in fid.flips] == [
        (C["standard"], C["grouped"]), (C["dilated"], C["grouped"]), (C["dilated"], C["standard"])]
    assert fid.finished == 2 and fid.partial == [f"{C['dilated']}: 1 of 2 seeds"] and len(fid.pending) == 3
    assert "2 of 6 ladder configurations finished (1 partly trained" in text and "Kendall τ-b = **-1.000**" in text
    assert f"| `{C['grouped']}` | 3 | 55.00 | 1 | 81.00 | +26.00 | 1 / 1 |" in text  # the diverged seed left out
    assert "## Pairs that flip" in text and "within noise" not in text.split("## Pairs that flip")[1].split("##")[0]
    assert "**Full data: pending" not in text and "### Full data (`" in text and F.PENDING in text
    assert str(tmp_path) not in text and "`full` — suite `benchmarks/ladder.toml`" in text  # paths relative


def test_claim_f_judged_on_the_ladder_rows_with_the_override_pairing(short, tmp_path):
    full = results_dir(tmp_path / "full", "ladder", LADDER["claim"], {ALEX: 0.85, SQ_LR: 0.84}, epochs=4)
    text, fid = F.fidelity_report(short, full, tmp_path / "f.md", params=PARAMS)
    # squeezenet1_1 pairs with the short table's lr-0.01 run (0.40), not the default-rate one (0.10)
    assert {p.name: p.short["top1"] for p in fid.pairs} == {ALEX: 0.61, SQ_LR: 0.40}
    claim = text.split("## Claim f")[1]
    full_part, short_part = claim.split("### Short schedule")
    assert "### Full data (`" in full_part and "): held" in full_part and "| squeezenet1_1 | 1,000 | 1.0× | 0.840 |" in full_part
    assert "): did not hold" in short_part and "| 0.400 |" in short_part


def test_fewer_than_two_pairs_leave_tau_undefined(short, tmp_path):
    full = results_dir(tmp_path / "full", "ladder", LADDER["convnet"], {C["dilated"]: 0.7, C["grouped"]: 0.1},
                       epochs=4, status={(C["grouped"], 0): "diverged"})
    text, fid = F.fidelity_report(short, full, tmp_path / "f.md")
    assert fid.kendall.tau is None and fid.flips == [] and fid.failed == [C["grouped"]]
    assert "**undefined** — fewer than 2 paired configurations (1)" in text and "None can flip yet" in text
    assert "plans no AlexNet and SqueezeNet pair" in text
    assert f"2 of 4 ladder configurations finished (1 failed, not ranked: {C['grouped']})" in text


def test_a_flip_inside_overlapping_seed_intervals_is_within_noise(tmp_path):
    two = {(C["standard"], 0): 0.60, (C["standard"], 1): 0.64, (C["dilated"], 0): 0.61, (C["dilated"], 1): 0.65}
    short = results_dir(tmp_path / "short", "short", LADDER["convnet"], two, epochs=2, seeds=(0, 1))
    full = results_dir(tmp_path / "full", "ladder", LADDER["convnet"], {C["standard"]: 0.8, C["dilated"]: 0.7}, epochs=4)
    text, fid = F.fidelity_report(short, full, tmp_path / "f.md")
    assert [f.noise for f in fid.flips] == [["short-table 95% intervals overlap"]]
    assert "within noise (short-table 95% intervals overlap)" in text and "95% interval of the mean" in text


def test_cli_writes_the_report_with_a_relative_command(short, tmp_path, monkeypatch, capsys):
    results_dir(tmp_path / "full", "ladder", LADDER["convnet"], {C["dilated"]: 0.7, C["grouped"]: 0.75}, epochs=4)
    monkeypatch.chdir(tmp_path)
    assert main(["fidelity", "--short", str(short), "--full", "full", "--out", "out/fidelity.md"]) == 0
    text = (tmp_path / "out" / "fidelity.md").read_text()
    assert text.startswith("# Fidelity") and "Generated by `zoo fidelity --short " in text
    assert "--full full --out out/fidelity.md`" in text and "Kendall tau-b: -1.000" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["no dir", "no csv", "no suite", "bad number"])
def test_missing_or_broken_inputs_name_the_path(short, tmp_path, capsys, damage):
    full = tmp_path / "full"
    if damage != "no dir":
        results_dir(full, "ladder", LADDER["convnet"], {C["dilated"]: 0.7}, epochs=4)
    if damage == "no csv":
        (full / "results.csv").unlink()
    elif damage == "no suite":
        (full / "suite.toml").unlink()
    elif damage == "bad number":
        csv = (full / "results.csv").read_text().splitlines()
        (full / "results.csv").write_text("\n".join([csv[0], csv[1].replace(",0.7,", ",zero,")]) + "\n")
    assert main(["fidelity", "--short", str(short), "--full", str(full), "--out", str(tmp_path / "f.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo fidelity: error: ") and str(full) in err and "Traceback" not in err
    assert not (tmp_path / "f.md").exists()
