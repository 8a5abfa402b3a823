"""zoo claims: analytic claims are computed and correct; missing suite results say so with the command."""

import tomllib

import pytest

from zoo.bench.results import write_rows
from zoo.survey import claims as C


@pytest.fixture(scope="module")
def empty_results(tmp_path_factory):
    return tmp_path_factory.mktemp("results")


def test_a_matches_the_formula_for_every_separable_unit():
    claim = C.claim_a()
    assert claim.verdict == C.HELD
    rows = [line for line in claim.measured if line.startswith("| stage")]
    assert len(rows) == 13  # MobileNet v1 has 13 depthwise-separable layers
    # stage2_unit1: M = N = 128, K = 3 -> 1/128 + 1/9
    cells = next(r for r in rows if r.startswith("| stage2_unit1 ")).strip("|").split("|")
    assert float(cells[5]) == pytest.approx(1 / 128 + 1 / 9, abs=1e-5)
    assert float(cells[7]) == pytest.approx(1 / 128 + 1 / 9, abs=1e-5)


def test_e_dilation_widens_the_field_at_equal_params(empty_results):
    claim = C.claim_e(empty_results)
    assert claim.verdict.startswith(f"receptive field at equal params: {C.HELD}")
    assert C.NOT_MEASURED in claim.verdict
    assert any("zoo bench benchmarks/claims-dilation.toml" in line for line in claim.measured)


def test_b_params_fall_with_groups_and_accuracy_waits_for_the_suite(empty_results):
    claim = C.claim_b(empty_results)
    assert claim.verdict == f"params: {C.HELD}; accuracy: {C.NOT_MEASURED}"
    params = [int(line.split("|")[2].replace(",", "")) for line in claim.measured if line[:3] in ("| 1", "| 2", "| 4", "| 8")]
    assert len(params) == 4 and params == sorted(params, reverse=True)


def test_training_claims_without_results_say_not_measured_with_the_command(empty_results):
    for fn, command in ((C.claim_c, "zoo bench benchmarks/claims-shuffle.toml"),
                        (C.claim_g, "zoo claims --measure dead"), (C.claim_h, "zoo claims --measure dead")):
        claim = fn(empty_results)
        assert claim.verdict == C.NOT_MEASURED
        assert any(command in line for line in claim.measured)
        assert command in "\n".join(claim.commands)


def _write_results(folder, rows):
    """results.csv through the runner's own writer; each row's structured ``knobs`` are the
    knobs its readable config text names (as the runner records both)."""
    folder.mkdir(parents=True)
    for row in rows:
        row.setdefault("knobs", {k: tomllib.loads(f"v = {v}")["v"] for k, v in
                                 (part.split("=", 1) for part in row.get("config", "").split(";") if part)})
    write_rows(folder / "results.csv", rows)


def test_c_reads_the_suite_results(tmp_path):
    top1 = {(3, "true"): 0.61, (3, "false"): 0.55, (8, "true"): 0.58, (8, "false"): 0.60}
    _write_results(tmp_path / "claims-shuffle", [
        {"run_id": f"r{i}", "model": "shufflenet", "config": f"groups={g};shuffle={s};width=0.5", "seed": 0,
         "top1": acc, "params": 1, "macs": 1} for i, ((g, s), acc) in enumerate(top1.items())])
    claim = C.claim_c(tmp_path)
    assert claim.verdict == C.NOT_HELD  # g=8 lost with the shuffle in these rows
    text = "\n".join(claim.measured)
    assert "+0.060" in text and "-0.020" in text


def test_claims_markdown_lists_every_claim(empty_results):
    md = C.claims_markdown([C.claim_c(empty_results), C.claim_g(empty_results)])
    assert md.count("## ") == 2 and "not yet measured" in md and "Reproduce:" in md


def test_b_and_c_read_default_knobs_and_report_seeds(tmp_path):
    """Suites leave defaults unwritten (shuffle=true, convnet's groups=4) so run ids match the
    cifar10 suite's; the claims fill them from the registry. Two seeds give a spread."""
    b_top1 = {'conv="standard"': 0.65, 'conv="grouped";groups=2': 0.67, 'conv="grouped"': 0.62,
              'conv="grouped";groups=8': 0.58}
    _write_results(tmp_path / "claims-groups", [
        {"run_id": f"b{i}", "model": "convnet", "config": f"width=0.5;{cfg}", "seed": 0, "top1": acc,
         "params": 1, "macs": 1} for i, (cfg, acc) in enumerate(b_top1.items())])
    claim = C.claim_b(tmp_path)
    assert claim.verdict == f"params: {C.HELD}; accuracy: a moderate group count (g=2) was the most accurate"
    assert "g=4: -0.030" in "\n".join(claim.measured)  # the row without groups= is g=4, the default
    assert "Same-seed pairs won by groups=1: vs g=2: 0 of 1, vs g=4: 1 of 1, vs g=8: 1 of 1" in "\n".join(claim.measured)

    rows = []
    for seed, delta in ((0, 0.0), (1, 0.02)):
        for g in (3, 8):
            rows += [{"run_id": f"c{seed}{g}on", "model": "shufflenet", "config": f"width=0.5;groups={g}",
                      "seed": seed, "top1": 0.62 + delta, "params": 1, "macs": 1},
                     {"run_id": f"c{seed}{g}off", "model": "shufflenet", "config": f"width=0.5;shuffle=false;groups={g}",
                      "seed": seed, "top1": 0.60 + delta, "params": 1, "macs": 1}]
    _write_results(tmp_path / "claims-shuffle", rows)
    claim = C.claim_c(tmp_path)
    assert claim.verdict == C.HELD
    text = "\n".join(claim.measured)
    assert "Shuffle won 4 of 4 same-seed pairs." in text
    assert "+0.020" in text and "Seeds: 2 per configuration; top-1 sample std across seeds 0.014–0.014" in text


def _dead_record(model, dead, top1=0.5):
    return {"model": model, "config": {}, "recipe_overrides": {}, "dead_channels": dead, "channels": 64,
            "params_saved": 10 * dead, "macs_saved": 100 * dead, "top1_before": top1, "top1_after": top1,
            "layers": []}


def test_g_names_each_measured_model_and_the_ones_still_missing(tmp_path, monkeypatch):
    import json
    from pathlib import Path

    from zoo.bench.spec import load_suite

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)  # claims read benchmarks/claims-dead.toml for the configurations it lists
    ids = [cfg.run_id for cfg in load_suite(root / "benchmarks" / f"{C.DEAD_SUITE}.toml").configurations()]
    assert len(ids) == 2  # the BN convnet and SqueezeNet 1.1
    folder = tmp_path / C.DEAD_SUITE / ids[0]
    folder.mkdir(parents=True)
    (folder / "dead.json").write_text(json.dumps(_dead_record("convnet", 0)))
    g = C.claim_g(tmp_path)
    assert g.verdict == "did not hold (no dead channels found; 1 of 2 models measured so far)"
    assert any(line.startswith("not yet measured: squeezenet1_1") for line in g.measured)
    folder = tmp_path / C.DEAD_SUITE / ids[1]
    folder.mkdir()
    (folder / "dead.json").write_text(json.dumps(_dead_record("squeezenet1_1", 7)))
    g = C.claim_g(tmp_path)
    assert g.verdict == "held in squeezenet1_1; none in convnet"
    assert not any(line.startswith(C.NOT_MEASURED) for line in g.measured)


def test_d_and_e_show_every_seed_and_same_seed_pairs(tmp_path):
    """With two seeds the tables show both values beside the mean (e once showed only the last
    seed's), and the text counts the seeds in which the wider / dilated model won."""
    rows = [{"run_id": f"e{seed}{ctx}", "model": "dilated", "config": f"width=0.5;context={ctx}", "seed": seed,
             "top1": acc, "params": 1, "macs": 1}
            for (seed, ctx), acc in {(0, "true"): 0.63, (1, "true"): 0.65,
                                     (0, "false"): 0.60, (1, "false"): 0.66}.items()]
    _write_results(tmp_path / "claims-dilation", rows)
    claim = C.claim_e(tmp_path)
    text = "\n".join(claim.measured)
    assert "| dilated(width=0.5;context=true) | 0.640 | 0.630 / 0.650 |" in text
    assert "| dilated(width=0.5;context=false) | 0.630 | 0.600 / 0.660 |" in text
    assert "Dilation won 1 of 2 same-seed pairs." in text
    assert claim.verdict.endswith("accuracy with dilation +0.010")

    top1 = {0.25: (0.50, 0.52), 0.5: (0.60, 0.61), 0.75: (0.62, 0.60)}
    _write_results(tmp_path / "claims-width", [
        {"run_id": f"d{w}{seed}", "model": "mobilenet", "config": f"width={w}", "seed": seed, "top1": acc[seed],
         "params": 1, "macs": 1} for w, acc in top1.items() for seed in (0, 1)])
    claim = C.claim_d(tmp_path)
    text = "\n".join(claim.measured)
    assert "| 0.75 | 0.610 | 0.620 / 0.600 |" in text
    assert "Same-seed pairs won by the wider: 0.5 vs 0.25: 2 of 2, 0.75 vs 0.5: 1 of 2" in text
    assert claim.verdict == C.HELD  # the means rise: 0.510, 0.605, 0.610
