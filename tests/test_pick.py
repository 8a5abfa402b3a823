"""zoo pick: budgets filter, mean top-1 ranks, t intervals judge ties, failed runs never count.

The tables are real results.csv files written by ``zoo.bench.results.write_rows``; one test
reads the committed results/cifar10 table.
"""

import csv
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import pick as zp
from zoo.experiment.stats import t_quantile
from zoo.bench.results import write_rows
from zoo.cli import main

REPO = Path(__file__).resolve().parent.parent

# model, config, macs, params, latency (None: not measured), top-1 per seed, status
CONFIGS = [
    ("a", "width=1.0", 10e6, 100_000, 1.0, (0.70, 0.72, 0.74), "ok"),
    ("b", "width=0.5", 5e6, 50_000, 0.8, (0.69, 0.70, 0.71), "ok"),
    ("c", "width=0.25", 2e6, 20_000, None, (0.50, 0.51, 0.52), "ok"),
    ("d", "width=2.0", 50e6, 400_000, 3.0, (0.80, 0.81, 0.82), "ok"),
    ("e", "", 1e6, 10_000, 0.5, (0.99, 0.99), "diverged"),  # cheapest and best, but failed
    ("f", "groups=3", 3e6, 30_000, 0.9, (0.60,), "ok"),  # one seed: no interval
]


def row(model, config, macs, params, latency, top1, seed, status="ok"):
    return {"run_id": f"{model}-{config}-{seed}", "model": model, "config": config, "knobs": {},
            "seed": seed, "dataset": "toy", "params": params, "macs": int(macs), "top1": top1,
            "latency_ms": latency, "latency_p90_ms": latency, "status": status,
            "finished_at": "2026-01-01T00:00:00+00:00"}


@pytest.fixture
def table(tmp_path):
    rows = [row(m, c, macs, p, lat, t, seed, status)
            for m, c, macs, p, lat, top1, status in CONFIGS for seed, t in enumerate(top1)]
    rows.append(row("a", "width=1.0", 10e6, 100_000, 1.0, 0.99, 7, status="diverged"))  # a failed seed of a
    out = tmp_path / "mine"
    out.mkdir()
    write_rows(out / "results.csv", rows)
    return out


def run_cli(capsys, *argv):
    rc = main(["pick", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def names(result):
    return [c["model"] for c in result.fits]


# --- statistics ---------------------------------------------------------------------


def test_t_quantiles_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in range(1, 31):
        assert t_quantile(df) == pytest.approx(stats.t.ppf(0.975, df), abs=5e-5), df
    for df in (31, 40, 60, 120, 1000, 10**6):
        assert t_quantile(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-5), df


def test_t_interval_numbers(table):
    result = zp.pick(zp.load_table(table).rows)
    a = next(c for c in result.fits if c["model"] == "a")
    top1 = [0.70, 0.72, 0.74]  # the failed seed (0.99) is not among them
    half = 4.3027 * statistics.stdev(top1) / math.sqrt(3)  # t(0.975, 2) = 4.3027
    assert a["seeds"] == 3
    assert a["top1"] == pytest.approx(0.72)
    assert a["interval"] == pytest.approx((0.72 - half, 0.72 + half))
    assert a["interval"] == pytest.approx((0.6703, 0.7697), abs=1e-4)
    assert next(c for c in result.fits if c["model"] == "f")["interval"] is None


# --- filtering, ordering, ties ------------------------------------------------------


def test_macs_budget_filters_and_ranks_by_mean_top1(table):
    result = zp.pick(zp.load_table(table).rows, max_macs=20e6)
    assert names(result) == ["a", "b", "f", "c"]  # d is over; e failed
    assert [c["model"] for c in result.over] == ["d"]


def test_every_budget_applies(table):
    rows = zp.load_table(table).rows
    assert names(zp.pick(rows, max_params=50_000)) == ["b", "f", "c"]
    assert names(zp.pick(rows, max_macs=20e6, max_params=60_000)) == ["b", "f", "c"]
    assert names(zp.pick(rows, max_macs=5e6)) == ["b", "f", "c"]  # the limit itself fits
    assert names(zp.pick(rows)) == ["d", "a", "b", "f", "c"]


def test_ties_are_overlapping_intervals(table):
    result = zp.pick(zp.load_table(table).rows, max_macs=20e6)
    tied = {c["model"]: c["tied"] for c in result.fits}
    # a: 0.72 ± 0.0497; b: 0.70 ± 0.0248 reaches 0.7248 > 0.6703; c: at most 0.5348
    assert tied == {"a": True, "b": True, "c": False, "f": None}


def test_failed_runs_are_never_picked(table, capsys):
    rc, out, _ = run_cli(capsys, table)
    assert rc == 0 and " e " not in out
    assert "3 failed run(s)" in out and "never picked" in out
    # e (1M MACs) would be the only fit if its failed rows counted
    rc, out, _ = run_cli(capsys, table, "--max-macs", "1e6")
    assert rc == 1
    assert "the cheapest, c (width=0.25), needs MACs 2M, 1M over the limit (2.00x)" in out


def test_latency_budget_without_a_measurement(table, capsys):
    result = zp.pick(zp.load_table(table).rows, max_latency_ms=2)
    assert names(result) == ["a", "b", "f"]
    assert [c["model"] for c in result.unmeasured["max_latency_ms"]] == ["c"]
    rc, out, _ = run_cli(capsys, table, "--max-latency-ms", "2")
    assert rc == 0
    assert "1 configuration(s) without a latency_ms measurement, which cannot satisfy --max-latency-ms: " \
           "c (width=0.25)" in out
    assert "not on yours" in out


# --- the command ----------------------------------------------------------------------


def test_cli_table_says_how_ties_are_judged(table, capsys):
    rc, out, _ = run_cli(capsys, table, "--max-macs", "20e6", "--top", "3")
    assert rc == 0
    assert "4 of 5 configurations fit (the first 3 shown)" in out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#"))
    assert "95% interval" in lines[head] and "tied" in lines[head]
    ranked = lines[head + 1:head + 4]
    assert ranked[0].split()[1] == "a" and ranked[0].endswith("best")
    assert ranked[1].split()[1] == "b" and ranked[1].endswith("tied")
    assert ranked[2].split()[1] == "f" and ranked[2].endswith("?")
    assert "67.03 – 76.97" in ranked[0]
    assert "95% Student's t intervals" in out and "overlap" in out
    assert "no results.md beside it" in out


def test_cli_json(table, capsys):
    rc, out, _ = run_cli(capsys, table, "--max-macs", "20e6", "--json")
    assert rc == 0
    data = json.loads(out)
    got = [(c["rank"], c["model"], c["tied"]) for c in data["configurations"]]
    assert got == [(1, "a", True), (2, "b", True), (3, "f", None), (4, "c", False)]
    assert data["configurations"][0]["interval95"] == pytest.approx([0.6703, 0.7697], abs=1e-4)
    assert data["budgets"] == {"max_macs": 20e6} and data["failed_runs_ignored"] == 3
    assert data["nearest_miss"] is None and "overlap" in data["ties"]

    rc, out, _ = run_cli(capsys, table, "--max-macs", "1e6", "--json")
    data = json.loads(out)
    assert rc == 1 and data["configurations"] == []
    assert data["nearest_miss"]["model"] == "c"
    assert data["nearest_miss"]["misses"]["--max-macs"] == {"value": 2e6, "limit": 1e6, "over_by": 1e6, "ratio": 2.0}


def test_one_seed_says_the_ranking_cannot_separate(tmp_path, capsys):
    write_rows(tmp_path / "results.csv", [row("x", "", 1e6, 10, 1.0, 0.61, 0), row("y", "", 2e6, 20, 1.0, 0.60, 0)])
    rc, out, _ = run_cli(capsys, tmp_path / "results.csv")
    assert rc == 0
    assert "cannot separate close values" in out and "95% interval" not in out


def test_provenance_comes_from_results_md(table, capsys):
    (table / "results.md").write_text(
        "# zoo bench toy\n\n- **suite**: `benchmarks/toy.toml` — a toy\n- **dataset**: toy, 10 classes\n"
        "- **schedule**: epochs=1\n- **seeds**: 0, 1, 2\n- **machine**: Abacus, 1 bead\n"
        "- **reproduce**: `zoo bench benchmarks/toy.toml`\n\n- **not header**: after the blank line\n")
    _, out, _ = run_cli(capsys, table)
    for line in ("suite:     benchmarks/toy.toml — a toy", "dataset:   toy, 10 classes", "schedule:  epochs=1",
                 "seeds:     0, 1, 2", "machine:   Abacus, 1 bead", "reproduce: zoo bench benchmarks/toy.toml"):
        assert line in out
    assert "not header" not in out


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--max-macs", "--max-params", "--max-latency-ms"])
@pytest.mark.parametrize("value", ["abc", "0", "-5", "inf", "nan"])
def test_bad_budget_names_the_option(table, capsys, option, value):
    rc, out, err = run_cli(capsys, table, option, value)
    assert rc == 2 and out == ""
    assert f"invalid {option}={value!r}; allowed: a positive number" in err and "Traceback" not in err


def test_bad_top(table, capsys):
    for value in ("0", "two"):
        rc, _, err = run_cli(capsys, table, "--top", value)
        assert rc == 2 and f"invalid --top={value!r}" in err


@pytest.mark.parametrize("source", ["no-such-suite", "results/nope", "nope/results.csv"])
def test_unknown_table_lists_the_published_ones(capsys, source):
    rc, out, err = run_cli(capsys, source)
    assert rc == 2 and out == ""
    assert f"no results table {source!r}" in err
    assert "published tables: " in err and "cifar10, cifar10-full" in err and "tiny-imagenet-10" in err


def test_directory_without_results(tmp_path, capsys):
    rc, _, err = run_cli(capsys, tmp_path)
    assert rc == 2 and "without results.csv" in err and "published tables: " in err


def test_empty_table(tmp_path, capsys):
    write_rows(tmp_path / "results.csv", [])
    rc, _, err = run_cli(capsys, tmp_path)
    assert rc == 2 and "no finished run" in err


# --- the published table ---------------------------------------------------------------


def test_names_of_a_published_table_resolve_alike():
    expected = (REPO / "results" / "cifar10" / "results.csv").resolve()
    for source in (None, "cifar10", "benchmarks/cifar10.toml", "results/cifar10", REPO / "results" / "cifar10",
                   "results/cifar10/results.csv"):
        assert zp.resolve(source).resolve() == expected, source


def test_a_name_finds_the_published_table_from_any_directory(tmp_path, monkeypatch):
    (tmp_path / "cifar10").mkdir()  # e.g. the data folder of the same name: no results.csv in it
    monkeypatch.chdir(tmp_path)
    assert zp.resolve("cifar10") == REPO / "results" / "cifar10" / "results.csv"
    assert zp.resolve("results/tiny-imagenet-10") == REPO / "results" / "tiny-imagenet-10" / "results.csv"


def test_published_cifar10_within_20m_macs(capsys):
    with open(REPO / "results" / "cifar10" / "results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if (r.get("status") or "ok") == "ok"]
    assert {r["seed"] for r in rows} == {"0"}  # one seed: a configuration's top-1 is its row's
    expected = sorted(((r["model"], r["config"], float(r["top1"])) for r in rows if int(r["macs"]) <= 20e6),
                      key=lambda t: -t[2])
    assert len(expected) >= 5

    rc, out, _ = run_cli(capsys, "results/cifar10", "--max-macs", "20e6", "--json")
    assert rc == 0
    got = [(c["model"], c["config"], c["top1"]) for c in json.loads(out)["configurations"]]
    assert got == expected
    assert json.loads(out)["provenance"]["machine"]

    rc, out, _ = run_cli(capsys, "--max-macs", "20e6")
    assert rc == 0 and "cannot separate close values" in out and "reproduce:" in out


# --- no TensorFlow on this path ----------------------------------------------------------

BLOCK_HEAVY = """
import sys
class Refuse:  # the point is that these never load: fail fast, naming the import
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in ('tensorflow', 'keras', 'jax', 'torch'):
            raise ImportError('zoo pick imported ' + name)
sys.meta_path.insert(0, Refuse())
"""


def _run(code):
    return subprocess.run([sys.executable, "-c", BLOCK_HEAVY + code], cwd=REPO, capture_output=True, check=False,
                          text=True, timeout=120)


def test_pick_code_path_imports_no_tensorflow():
    """zoo.pick, zoo.bench.results and the CLI's pick command, below the package's own __init__."""
    out = _run("import types, os\n"
               "pkg = types.ModuleType('zoo'); pkg.__path__ = [os.path.abspath('zoo')]; sys.modules['zoo'] = pkg\n"
               "from zoo.cli import main\n"
               "sys.exit(main(['pick', '--max-macs', '20e6']))")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "best mean top-1 first" in out.stdout


def test_zoo_pick_command_imports_no_tensorflow():
    out = _run("sys.argv = ['zoo', 'pick', '--max-macs', '20e6']\n"
               "from zoo.cli import main\n"
               "sys.exit(main())")
    assert out.returncode == 0, out.stderr[-2000:]


def test_int8_latency_budget_ranks_by_the_int8_file(tmp_path, capsys):
    """Under --max-int8-latency-ms the answer is the int8 TFLite file: its latency is budgeted,
    its top-1 ranks (here against the float order), and configurations never measured in int8
    cannot satisfy the budget."""
    rows = [{**row("float-best", "", 5e6, 1000, 1.0, 0.80, 0), "tflite_int8_top1": 0.60, "tflite_int8_ms": 0.2},
            {**row("int8-best", "", 6e6, 1000, 1.0, 0.75, 0), "tflite_int8_top1": 0.74, "tflite_int8_ms": 0.3},
            {**row("too-slow", "", 1e6, 1000, 1.0, 0.90, 0), "tflite_int8_top1": 0.89, "tflite_int8_ms": 0.9},
            row("no-int8", "", 1e6, 1000, 1.0, 0.95, 0)]
    out = tmp_path / "deployed"
    out.mkdir()
    write_rows(out / "results.csv", rows)
    result = zp.pick(zp.load_table(out).rows, max_int8_latency_ms=0.5)
    assert names(result) == ["int8-best", "float-best"]
    assert [c["model"] for c in result.unmeasured["max_int8_latency_ms"]] == ["no-int8"]
    assert names(zp.pick(zp.load_table(out).rows, max_latency_ms=2))[0] == "no-int8"  # float budget: float order
    rc, text, _ = run_cli(capsys, out, "--max-int8-latency-ms", "0.5")
    assert rc == 0 and "best int8 TFLite top-1 (the file shipped) first" in text and "int8 top-1 %" in text
    assert "without a tflite_int8_ms measurement, which cannot satisfy --max-int8-latency-ms: no-int8" in text
    rc, _, err = run_cli(capsys, out, "--max-int8-latency-ms", "fast")
    assert rc == 2 and "invalid --max-int8-latency-ms='fast'" in err
