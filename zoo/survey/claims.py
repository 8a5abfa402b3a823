"""The survey's claims, each checked by a measurement the project can reproduce.

A report on the survey this project comes from, on the top floor: it reads the benchmark
suites' results and trains (``measure_dead``) through the same ``zoo.experiment.run`` path
as ``zoo bench``.

``evaluate_claims(results_dir)`` returns one ``Claim`` per claim (a-h): what was measured,
on which data and schedule, the command that reproduces it and the verdict. Analytic
parts (costs and receptive fields from ``zoo.cost.analyze``) are computed here and now;
accuracy parts READ the ``results.csv`` of a ``zoo bench benchmarks/claims-*.toml`` suite
(or the JSON of ``zoo claims --measure dead``) and say "not yet measured" with the command
when those files are missing. No number here is typed in by hand.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from zoo.experiment.report import generated_by, markdown_table

NOT_MEASURED = "not yet measured"
HELD, NOT_HELD = "held", "did not hold"

# Suites behind the accuracy parts (benchmarks/<suite>.toml -> results/<suite>/results.csv).
SUITES = {"b": "claims-groups", "c": "claims-shuffle", "d": "claims-width", "e": "claims-dilation",
          "f": "claims-squeezenet"}
DEAD_SUITE = "claims-dead"  # g and h: one trained grouped convnet, analysed and pruned
MOBILENET_INPUT = (224, 224, 3)
CIFAR_INPUT = (32, 32, 3)
WIDTHS = (0.25, 0.5, 0.75, 1.0)          # MobileNet's width multipliers (paper Table 6)
RESOLUTIONS = (128, 160, 192, 224)       # and resolutions (paper Table 7)
GROUP_COUNTS = (1, 2, 4, 8)
SQUEEZENET_ACCURACY_MARGIN = 0.02        # "AlexNet-level": top-1 at most 2 points below AlexNet's
SQUEEZENET_PARAM_FACTOR = 10             # "far fewer": at least 10x fewer parameters


@dataclass
class Claim:
    key: str
    title: str
    verdict: str = NOT_MEASURED
    measured: list[str] = field(default_factory=list)   # markdown lines
    data: str = ""
    commands: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        lines = [f"## {self.key}. {self.title}", "", f"**Verdict: {self.verdict}**", ""]
        if self.data:
            lines += [f"Data and schedule: {self.data}", ""]
        lines += self.measured + [""]
        lines += ["Reproduce:", "", "```", *self.commands, "```", ""]
        return "\n".join(lines)


def _suite_rows(results_dir: Path, suite: str) -> list[dict] | None:
    from zoo.bench.results import read_rows

    path = results_dir / suite / "results.csv"
    return read_rows(path) if path.is_file() else None


def _repo_suite(suite: str):
    """``benchmarks/<suite>.toml`` loaded, or None when run outside the repository."""
    from zoo.bench.spec import load_suite

    path = Path("benchmarks") / f"{suite}.toml"
    return load_suite(path) if path.is_file() else None


def _suite_data(suite: str) -> str:
    loaded = _repo_suite(suite)
    return loaded.description if loaded else f"benchmarks/{suite}.toml"


def _bench_command(suite: str) -> str:
    return f"ZOO_DATA_DIR=<data> zoo bench benchmarks/{suite}.toml"


def _knobs(row) -> dict:
    """A row's full knob set: the model's registry defaults, overridden by the knobs the run
    was configured with (results.csv's structured ``knobs`` column; suites leave defaults
    unwritten so that their run ids match other suites')."""
    from zoo.registry import get_spec

    try:
        defaults = get_spec(row["model"]).knob_defaults()
    except ValueError:  # a model this version no longer registers
        defaults = {}
    return {**defaults, **(row.get("knobs") or {})}


def _mean_top1(rows, predicate) -> float | None:
    picked = [r["top1"] for r in rows if r.get("top1") is not None and predicate(r)]
    return sum(picked) / len(picked) if picked else None


def _by_seed(rows, predicate) -> dict[int, float]:
    return {int(r["seed"]): r["top1"] for r in rows if r.get("top1") is not None and predicate(r)}


def _seed_cell(rows, predicate) -> str:
    """Each seed's top-1, in seed order: the spread behind a mean, in the table itself."""
    values = _by_seed(rows, predicate)
    return " / ".join(f"{values[s]:.3f}" for s in sorted(values))


def _same_seed_wins(rows, first, second) -> tuple[int, int]:
    """In how many seeds ``first`` beat ``second``, of the seeds both ran: the comparison a
    seed's noise cannot fake twice."""
    a, b = _by_seed(rows, first), _by_seed(rows, second)
    common = a.keys() & b.keys()
    return sum(a[s] > b[s] for s in common), len(common)


def _seed_note(rows) -> str:
    """How many seeds stand behind each accuracy, and their spread where there are several."""
    import statistics
    from collections import defaultdict

    by_config = defaultdict(list)
    for r in rows:
        if r.get("top1") is not None:
            by_config[r["model"], r.get("config") or ""].append(r["top1"])
    counts = sorted({len(v) for v in by_config.values()})
    if counts == [1]:
        return ("Seeds: one per configuration, so the seed-to-seed spread is not measured; read "
                "differences of about a point as ties (add seeds to the suite's [run] seeds to measure it).")
    spreads = [statistics.stdev(v) for v in by_config.values() if len(v) > 1]
    return (f"Seeds: {'/'.join(map(str, counts))} per configuration; top-1 sample std across seeds "
            f"{min(spreads):.3f}–{max(spreads):.3f}.")


def _missing(claim: Claim, suite: str) -> None:
    claim.measured.append(f"Accuracy: {NOT_MEASURED} — run: `{_bench_command(suite)}`")


# --- a: depthwise-separable cost ratio ----------------------------------------------------


def claim_a() -> Claim:
    import zoo
    from zoo.cost import analyze

    claim = Claim("a", "A depthwise-separable layer costs 1/N + 1/K² of a standard convolution",
                  data=f"analytic (zoo.cost), MobileNet v1 width 1.0 at {MOBILENET_INPUT[0]}×{MOBILENET_INPUT[1]}",
                  commands=["zoo claims"])
    separable_model = zoo.build("mobilenet", input_shape=MOBILENET_INPUT)
    separable = {r.name: r for r in analyze(separable_model).rows}
    standard = {r.name: r for r in analyze(zoo.build("mobilenet_conv", input_shape=MOBILENET_INPUT)).rows}
    rows, worst = [], 0.0
    for name, dw in separable.items():
        if not name.endswith("_dw_dw"):
            continue
        unit = name[: -len("_dw_dw")]
        pw, conv = separable[f"{unit}_pw_conv"], standard[f"{unit}_conv_conv"]
        k2 = math.prod(separable_model.get_layer(name).kernel_size)
        n = pw.output_shape[-1]
        formula = 1 / n + 1 / k2
        macs_ratio = (dw.macs + pw.macs) / conv.macs
        params_ratio = (dw.params + pw.params) / conv.params
        worst = max(worst, abs(macs_ratio - formula), abs(params_ratio - formula))
        rows.append((unit, dw.input_shapes[0][-1], n, f"{conv.macs:,}", f"{dw.macs + pw.macs:,}",
                     f"{macs_ratio:.5f}", f"{params_ratio:.5f}", f"{formula:.5f}"))
    claim.measured += ["Per depthwise-separable unit (depthwise 3×3 + pointwise 1×1, BatchNorm excluded from "
                       "params) against the same unit of `mobilenet_conv` (one standard 3×3 convolution):", ""]
    claim.measured += markdown_table(("unit", "M", "N", "standard MACs", "separable MACs", "MACs ratio",
                              "params ratio", "1/N + 1/K²"), rows)
    claim.measured += ["", f"Largest |measured − formula| over {len(rows)} units: {worst:.2e}."]
    claim.verdict = HELD if rows and worst < 1e-9 else NOT_HELD
    return claim


# --- b: groups -> fewer parameters ---------------------------------------------------------


def _convnet(groups: int, **kw):
    import zoo

    if groups == 1:
        return zoo.build("convnet", conv="standard", width=0.5, input_shape=CIFAR_INPUT, num_classes=10, **kw)
    return zoo.build("convnet", conv="grouped", groups=groups, width=0.5, input_shape=CIFAR_INPUT,
                     num_classes=10, **kw)


def claim_b(results_dir: Path) -> Claim:
    from zoo.cost import analyze

    suite = SUITES["b"]
    claim = Claim("b", "More groups → fewer parameters (and the accuracy it costs)", data=_suite_data(suite),
                  commands=["zoo claims", _bench_command(suite)])
    costs = {g: analyze(_convnet(g)) for g in GROUP_COUNTS}
    rows = _suite_rows(results_dir, suite)
    want = {g: (lambda r: _knobs(r).get("conv") == "standard") if g == 1 else
            (lambda r, g=g: _knobs(r).get("groups") == g and _knobs(r).get("conv") == "grouped")
            for g in GROUP_COUNTS}
    acc = {g: _mean_top1(rows, want[g]) for g in GROUP_COUNTS} if rows else {}
    table = [(g, f"{costs[g].params:,}", f"{costs[g].macs:,}",
              f"{acc[g]:.3f}" if acc.get(g) is not None else NOT_MEASURED,
              _seed_cell(rows, want[g]) if rows else "") for g in GROUP_COUNTS]
    claim.measured += ["convnet width 0.5 at 32×32, 10 classes (groups=1 is conv='standard'):", ""]
    claim.measured += markdown_table(("groups", "params", "MACs", "top-1 (mean)", "top-1 by seed"), table)
    params = [costs[g].params for g in GROUP_COUNTS]
    fewer = all(a > b for a, b in zip(params, params[1:]))
    claim.measured += ["", f"Parameters fall strictly with the group count: {'yes' if fewer else 'no'} (analytic)."]
    if not rows or any(acc.get(g) is None for g in GROUP_COUNTS):
        _missing(claim, suite)
        claim.verdict = ("params: " + (HELD if fewer else NOT_HELD)) + f"; accuracy: {NOT_MEASURED}"
    else:
        claim.measured.append("Accuracy change from groups=1: " +
                              ", ".join(f"g={g}: {acc[g] - acc[1]:+.3f}" for g in GROUP_COUNTS[1:]))
        claim.measured.append("Same-seed pairs won by groups=1: " + ", ".join(
            "vs g={}: {} of {}".format(g, *_same_seed_wins(rows, want[1], want[g])) for g in GROUP_COUNTS[1:]))
        claim.measured += ["", _seed_note(rows)]
        best = max(GROUP_COUNTS, key=lambda g: acc[g])
        trend = ("a moderate group count (g={}) was the most accurate".format(best) if best not in (1, GROUP_COUNTS[-1])
                 else "accuracy fell as groups grew (no gain from a moderate group count here)" if best == 1
                 else "the most groups were the most accurate")
        claim.verdict = f"params: {HELD if fewer else NOT_HELD}; accuracy: {trend}"
    return claim


# --- c: channel shuffle --------------------------------------------------------------------


def claim_c(results_dir: Path) -> Claim:
    suite = SUITES["c"]
    claim = Claim("c", "Channel shuffle helps stacked grouped convolutions (ShuffleNet, g=3 and g=8)",
                  data=_suite_data(suite), commands=[_bench_command(suite)])
    rows = _suite_rows(results_dir, suite)
    if not rows:
        _missing(claim, suite)
        return claim
    want = {(g, shuffle): (lambda r, g=g, shuffle=shuffle: _knobs(r).get("groups") == g
                           and _knobs(r).get("shuffle") is shuffle)
            for g in (3, 8) for shuffle in (True, False)}
    table, wins, pairs = [], [], []
    for g in (3, 8):
        on, off = _mean_top1(rows, want[g, True]), _mean_top1(rows, want[g, False])
        if on is None or off is None:
            _missing(claim, suite)
            return claim
        table.append((g, f"{on:.3f}", f"{off:.3f}", f"{on - off:+.3f}"))
        wins.append(on > off)
        pairs.append(_same_seed_wins(rows, want[g, True], want[g, False]))
    claim.measured += markdown_table(("groups", "top-1 with shuffle", "top-1 without", "difference"), table)
    claim.measured += ["", f"Shuffle won {sum(w for w, _ in pairs)} of {sum(n for _, n in pairs)} same-seed pairs.",
                       "", _seed_note(rows)]
    claim.verdict = HELD if all(wins) else NOT_HELD
    return claim


# --- d: width / resolution multipliers -----------------------------------------------------


def claim_d(results_dir: Path) -> Claim:
    import zoo
    from zoo.cost import analyze

    suite = SUITES["d"]
    claim = Claim("d", "Width and resolution multipliers trade accuracy for cost smoothly (MobileNet)",
                  data=_suite_data(suite), commands=["zoo claims", _bench_command(suite)])
    grid = {}
    for w in WIDTHS:
        model = zoo.build("mobilenet", width=w, input_shape=(RESOLUTIONS[-1], RESOLUTIONS[-1], 3))
        for r in RESOLUTIONS:
            grid[w, r] = analyze(model, input_shape=(r, r, 3)).macs
    claim.measured += ["MobileNet v1 MACs (millions) by width (rows) and resolution (columns), analytic:", ""]
    claim.measured += markdown_table(("width", *map(str, RESOLUTIONS)),
                             [(w, *(f"{grid[w, r] / 1e6:.1f}" for r in RESOLUTIONS)) for w in WIDTHS])
    monotone = all(grid[w, r] < grid[w2, r] for w, w2 in zip(WIDTHS, WIDTHS[1:]) for r in RESOLUTIONS) and \
        all(grid[w, r] < grid[w, r2] for r, r2 in zip(RESOLUTIONS, RESOLUTIONS[1:]) for w in WIDTHS)
    claim.measured += ["", f"Cost rises monotonically along both axes: {'yes' if monotone else 'no'}."]
    rows = _suite_rows(results_dir, suite)
    want = {w: (lambda r, w=w: float(_knobs(r).get("width", "nan")) == w) for w in WIDTHS}
    acc = {w: _mean_top1(rows, want[w]) for w in WIDTHS} if rows else {}
    acc = {w: a for w, a in acc.items() if a is not None}  # the suite trains the widths it can afford
    if len(acc) < 3:
        _missing(claim, suite)
        claim.verdict = f"cost: {HELD if monotone else NOT_HELD}; accuracy: {NOT_MEASURED}"
        return claim
    claim.measured += ["", "Accuracy by width (CIFAR-10 suite):", ""]
    claim.measured += markdown_table(("width", "top-1 (mean)", "top-1 by seed"),
                             [(w, f"{a:.3f}", _seed_cell(rows, want[w])) for w, a in acc.items()])
    widths = sorted(acc)
    claim.measured += ["", "Same-seed pairs won by the wider: " + ", ".join(
        "{} vs {}: {} of {}".format(b, a, *_same_seed_wins(rows, want[b], want[a])) for a, b in zip(widths, widths[1:]))]
    claim.measured += ["", _seed_note(rows)]
    rising = all(acc[a] <= acc[b] for a, b in zip(widths, widths[1:]))
    claim.verdict = HELD if monotone and rising else NOT_HELD
    return claim


# --- e: dilation -------------------------------------------------------------------------------


def claim_e(results_dir: Path) -> Claim:
    import zoo
    from zoo.blocks.dilated import BASIC_DILATIONS
    from zoo.cost import analyze

    suite = SUITES["e"]
    claim = Claim("e", "Dilation widens the receptive field at equal parameters",
                  data=f"analytic at {CIFAR_INPUT[0]}×{CIFAR_INPUT[1]} and 224×224; accuracy: {_suite_data(suite)}",
                  commands=["zoo claims", _bench_command(suite)])
    table, numbers = [], {}
    for name in ("dilated", "dilated_plain"):
        for size in (CIFAR_INPUT[0], 224):
            report = analyze(zoo.build(name, input_shape=(size, size, 3), num_classes=10))
            last_conv = [r for r in report.rows if r.type == "Conv2D"][-1]  # before global pooling
            numbers[name, size] = (report.params, last_conv.receptive_field[0])
            table.append((name, size, f"{report.params:,}", f"{report.macs:,}", last_conv.name,
                          "×".join(str(s) for s in last_conv.receptive_field)))
    claim.measured += [f"`dilated`: context module at rates {BASIC_DILATIONS}; `dilated_plain`: the same "
                       "layers at rate 1. Receptive field of the last convolution (before global pooling):", ""]
    claim.measured += markdown_table(("model", "input", "params", "MACs", "last conv", "receptive field"), table)
    held = all(numbers["dilated", s][0] == numbers["dilated_plain", s][0]
               and numbers["dilated", s][1] > numbers["dilated_plain", s][1] for s in (CIFAR_INPUT[0], 224))
    claim.measured += ["", f"Equal parameters and a wider receptive field: {'yes' if held else 'no'}."]
    rows = _suite_rows(results_dir, suite)
    effect = None
    if rows:
        runs = {(r["model"], r.get("config") or "") for r in rows}
        same = {run: (lambda r, run=run: (r["model"], r.get("config") or "") == run) for run in runs}
        table = [(model + (f"({config})" if config else ""), f"{_mean_top1(rows, same[model, config]):.3f}",
                  _seed_cell(rows, same[model, config])) for model, config in sorted(runs)]
        context = {flag: (lambda r, flag=flag: r["model"] == "dilated" and _knobs(r).get("context") is flag)
                   for flag in (True, False)}
        on, off = _mean_top1(rows, context[True]), _mean_top1(rows, context[False])
        effect = None if on is None or off is None else on - off
        claim.measured += ["", "Accuracy (CIFAR-10 suite):", ""]
        claim.measured += markdown_table(("run", "top-1 (mean)", "top-1 by seed"), table)
        claim.measured += ["", "Dilation won {} of {} same-seed pairs.".format(*_same_seed_wins(rows, context[True], context[False])),
                           "", _seed_note(rows)]
    else:
        _missing(claim, suite)
    claim.verdict = f"receptive field at equal params: {HELD if held else NOT_HELD}" + \
        (f"; accuracy with dilation {effect:+.3f}" if effect is not None else f"; accuracy effect: {NOT_MEASURED}")
    return claim


# --- f: SqueezeNet vs AlexNet ----------------------------------------------------------------


SQUEEZENETS = ("squeezenet1_0", "squeezenet1_1")


def squeezenet_params(models=("alexnet", *SQUEEZENETS)) -> dict[str, int]:
    """Parameters at the paper's 224×224 / 1000 classes (analytic): the "far fewer" half of claim f."""
    import zoo
    from zoo.cost import analyze

    return {n: analyze(zoo.build(n)).params for n in models}


def _far_fewer(params: dict[str, int]) -> bool:
    return all(params["alexnet"] >= SQUEEZENET_PARAM_FACTOR * p for n, p in params.items() if n != "alexnet")


def judge_f(claim: Claim, rows, params: dict[str, int]) -> bool:
    """Claim f's accuracy half and verdict on ``rows`` of any table that trained AlexNet and the
    SqueezeNets named in ``params`` (the claims suite, or the fidelity ladder at a longer
    schedule): appends the table and criterion to ``claim.measured`` and sets the verdict.
    Returns False, leaving ``claim`` untouched, while one of them has no top-1 in ``rows``."""
    squeezenets = [n for n in params if n != "alexnet"]
    fewer = _far_fewer(params)
    acc = {n: _mean_top1(rows, lambda r, n=n: r["model"] == n) for n in params} if rows else {}
    if not rows or any(v is None for v in acc.values()):
        return False
    run_params = {r["model"]: r["params"] for r in rows}
    claim.measured += ["", "Accuracy and parameters in the suite (the suite's AlexNet is the CIFAR-sized one "
                       "it names, so its parameter ratio is smaller than the paper's):", ""]
    claim.measured += markdown_table(("model", "params", "AlexNet / model", "top-1"),
                             [(n, f"{run_params[n]:,}", f"{run_params['alexnet'] / run_params[n]:.1f}×",
                               f"{acc[n]:.3f}") for n in params])
    level = all(acc[n] >= acc["alexnet"] - SQUEEZENET_ACCURACY_MARGIN for n in squeezenets)
    claim.measured.append(f"\nCriterion: ≥ {SQUEEZENET_PARAM_FACTOR}× fewer parameters at the paper's "
                          f"224×224 / 1000 classes (analytic: {'yes' if fewer else 'no'}) and top-1 in the suite "
                          f"≥ AlexNet's − {SQUEEZENET_ACCURACY_MARGIN} ({'yes' if level else 'no'}).")
    claim.measured += ["", _seed_note(rows)]
    if not level:
        claim.measured += ["", "SqueezeNet has no BatchNorm (see the suite file for the learning rate it trains at) "
                           "and the suite's AlexNet has it: a short schedule favours the BN network, so this "
                           "tests the claim at this schedule, not at the paper's."]
    claim.verdict = HELD if fewer and level else NOT_HELD
    return True


def claim_f(results_dir: Path) -> Claim:
    suite = SUITES["f"]
    claim = Claim("f", "SqueezeNet reaches AlexNet-level accuracy with far fewer parameters",
                  data=_suite_data(suite), commands=["zoo claims", _bench_command(suite)])
    params = squeezenet_params()
    claim.measured += ["Parameters at 224×224, 1000 classes (analytic):", ""]
    claim.measured += markdown_table(("model", "params", "AlexNet / model"),
                             [(n, f"{p:,}", f"{params['alexnet'] / p:.1f}×") for n, p in params.items()])
    if not judge_f(claim, _suite_rows(results_dir, suite), params):
        _missing(claim, suite)
        claim.verdict = f"params (≥ {SQUEEZENET_PARAM_FACTOR}× fewer): {HELD if _far_fewer(params) else NOT_HELD}; " \
                        f"accuracy: {NOT_MEASURED}"
    return claim


# --- g, h: dead channels and correlation of trained models -----------------------------------------


def _measure_command() -> str:
    return f"ZOO_DATA_DIR=<data> zoo claims --measure dead   # trains benchmarks/{DEAD_SUITE}.toml's models once"


def _dead_claim(key: str, title: str, results_dir: Path, filename: str) -> tuple[Claim, list[dict]]:
    """A claim answered by ``zoo claims --measure dead``: the claim, and one JSON record per
    measured model (``results/claims-dead/<run id>/<filename>``), empty when none is measured."""
    claim = Claim(key, title, data=_suite_data(DEAD_SUITE), commands=[_measure_command()])
    records = []
    for path in sorted((results_dir / DEAD_SUITE).glob(f"*/{filename}")):
        records.append({"run_id": path.parent.name, **json.loads(path.read_text())})
    if not records:
        claim.measured.append(f"{NOT_MEASURED} — run: `{_measure_command()}`")
    return claim, records


def _unmeasured(records: list[dict]) -> list[str]:
    """The configurations of claims-dead.toml that have no record yet."""
    measured = {r["run_id"] for r in records}
    suite = _repo_suite(DEAD_SUITE)
    return [cfg.label for cfg in suite.configurations() if cfg.run_id not in measured] if suite else []


def _model_label(record: dict) -> str:
    """``convnet (conv="grouped";groups=4;width=0.5)``, with the entry's recipe overrides if any."""
    from zoo.experiment.configs import format_config

    parts = [format_config(part) for part in (record.get("config"), record.get("recipe_overrides")) if part]
    if record.get("recipe_overrides"):
        parts[-1] = "recipe: " + parts[-1]
    return record["model"] + (f" ({'; '.join(parts)})" if parts else "")


def _has_batchnorm(record: dict) -> bool:
    """Whether the measured configuration normalizes its activations (a freshly built copy tells)."""
    import keras

    import zoo
    from zoo.experiment.configs import builder_knobs

    model = zoo.build(record["model"], **builder_knobs(record.get("config") or {}, (32, 32, 3), 10))
    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def claim_g(results_dir: Path) -> Claim:
    claim, records = _dead_claim("g", "Trained networks have dead channels, and removing them costs no accuracy",
                                 results_dir, "dead.json")
    if not records:
        return claim
    claim.measured += markdown_table(("model", "BatchNorm", "dead channels", "of", "params saved", "MACs saved",
                              "top-1 before", "top-1 after pruning"),
                             [(_model_label(d), "yes" if _has_batchnorm(d) else "no", d["dead_channels"],
                               d["channels"], f"{d['params_saved']:,}", f"{d['macs_saved']:,}",
                               f"{d['top1_before']:.4f}", f"{d['top1_after']:.4f}") for d in records])
    claim.measured += ["", "A channel is dead when its activation is exactly zero on every sampled training "
                       "image; only those are removed, so pruning them must leave top-1 unchanged."]
    missing = _unmeasured(records)
    if missing:
        claim.measured += ["", f"{NOT_MEASURED}: {', '.join(missing)} — run: `{_measure_command()}`"]
    held = [d for d in records if d["dead_channels"] > 0 and abs(d["top1_after"] - d["top1_before"]) < 1e-9]
    if held:
        others = [d["model"] for d in records if d not in held]
        claim.verdict = HELD + " in " + ", ".join(d["model"] for d in held) + \
            (f"; none in {', '.join(others)}" if others else "")
    else:
        why = ["no dead channels found"] if not any(d["dead_channels"] for d in records) else []
        if missing:
            why.append(f"{len(records)} of {len(records) + len(missing)} models measured so far")
        claim.verdict = NOT_HELD + (f" ({'; '.join(why)})" if why else "")
    return claim


def claim_h(results_dir: Path) -> Claim:
    claim, records = _dead_claim("h", "Grouped convolutions give block-structured channel correlation",
                                 results_dir, "correlation.json")
    records = [r for r in records if any(layer["grouped"] for layer in r["layers"])]
    if not records:
        if not claim.measured:
            claim.measured.append(f"{NOT_MEASURED}: no measured model has a grouped convolution")
        return claim
    rows = [(r["model"], layer["layer"], layer["groups"],
             "grouped" if layer["grouped"] else "standard (same partition)",
             f"{layer['activation_within']:.3f}", f"{layer['activation_across']:.3f}")
            for r in records for layer in r["layers"]]
    claim.measured += markdown_table(("model", "layer", "groups", "kind", "mean abs(corr) within", "across"), rows)
    grouped = [layer for r in records for layer in r["layers"] if layer["grouped"]]
    held = all(layer["activation_within"] > layer["activation_across"] for layer in grouped)
    claim.verdict = HELD if held else NOT_HELD
    return claim


def evaluate_claims(results_dir: str | Path = "results") -> list[Claim]:
    results_dir = Path(results_dir)
    return [claim_a(), claim_b(results_dir), claim_c(results_dir), claim_d(results_dir), claim_e(results_dir),
            claim_f(results_dir), claim_g(results_dir), claim_h(results_dir)]


def claims_markdown(claims: list[Claim]) -> str:
    head = ["# Claims of the survey, checked", "",
            generated_by("zoo claims") + " Analytic numbers come from `zoo.cost`; accuracy numbers "
            "from the benchmark suites' `results.csv`. MACs = multiply-accumulates.", "",
            "| claim | verdict |", "|---|---|"]
    head += [f"| {c.key}. {c.title} | {c.verdict} |" for c in claims]
    return "\n".join(head + [""] + [c.to_markdown() for c in claims])


def measure_dead(suite_path: str | Path, out: str | Path, data_dir: str | None = None, *,
                 sample: int = 256, progress: bool = False) -> list[dict]:
    """Train each of the suite's configurations with the project's training loop, then measure g and h.

    Writes ``<run id>/model.keras``, ``dead.json`` (dead channels, pruning saving, top-1
    before and after removing the exactly-dead ones) and ``correlation.json`` (every grouped
    conv, and the standard stem with the same partition as a control) under ``out``. A
    configuration whose ``dead.json`` exists is skipped, so an interrupted call resumes.
    """
    from zoo.bench.spec import load_suite
    from zoo.experiment.dataset import load_splits

    suite = load_suite(suite_path)
    configs = suite.configurations()
    out = Path(out)
    todo = [cfg for cfg in configs if not (out / cfg.run_id / "dead.json").is_file()]
    if todo:
        splits = load_splits(suite.dataset, suite.path, data_dir)
        for cfg in todo:
            if progress:
                print(f"measuring dead channels: {cfg.label}", flush=True)
            _measure_one(suite, cfg, splits, out / cfg.run_id, sample=sample, progress=progress)
    return [json.loads((out / cfg.run_id / "dead.json").read_text()) for cfg in configs]


def _measure_one(suite, cfg, splits, out: Path, *, sample: int, progress: bool) -> None:
    import keras

    from zoo.analysis.correlation import channel_correlation
    from zoo.analysis.dead import dead_channels
    from zoo.analysis.data import sample_images
    from zoo.analysis.prune import apply_pruning
    from zoo.experiment.report import write_atomic
    from zoo.experiment.run import train_configuration
    from zoo.training import compile_model

    recipe = suite.recipe_for(cfg)
    # The runner's own path: same run id, same seed, same weights, same top-1 as zoo bench.
    model, before = train_configuration(cfg, splits, recipe, suite.input_shape, progress=progress)
    train, val = splits.train, splits.val
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    images = sample_images(train, sample)
    report = dead_channels(model, images)
    plan = report.plan
    pruned = apply_pruning(plan)
    steps = max(1, train.num_examples // recipe.batch_size)
    compile_model(pruned, recipe, steps_per_epoch=steps, num_classes=train.num_classes)
    val_batches = val.pipeline(recipe.batch_size, training=False)
    after = pruned.evaluate(val_batches, verbose=0, return_dict=True)
    compile_model(model, recipe, steps_per_epoch=steps, num_classes=train.num_classes)
    again = model.evaluate(val_batches, verbose=0, return_dict=True)
    dead = {"model": cfg.model, "run_id": cfg.run_id, "seed": cfg.seed, "config": dict(cfg.knobs),
            "recipe_overrides": dict(cfg.recipe),
            "dead_channels": sum(len(r.dead) for r in report.layers),
            "exactly_removable_classes": len(plan.removed),
            "channels": sum(r.channels for r in report.layers), "params_saved": plan.predicted_params_saved,
            "macs_saved": plan.predicted_macs_saved, "top1_trained": before["top1"],
            "top1_before": float(again["top1"]), "top1_after": float(after["top1"]),
            "layers": [{"name": r.name, "channels": r.channels, "dead": r.dead} for r in report.layers]}
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and getattr(layer, "groups", 1) > 1:
            layers.append((layer.name, layer.groups, True))
    if layers:
        stem = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
        channels = stem.output.shape[-1]
        g = layers[0][1] if channels % layers[0][1] == 0 else 1
        layers.append((stem.name, g, False))
    corr = []
    for layer_name, groups, grouped in layers:
        c = channel_correlation(model, layer_name, images[:64], groups=groups)
        corr.append({"layer": layer_name, "groups": groups, "grouped": grouped,
                     "activation_within": c.activation_within, "activation_across": c.activation_across,
                     "weights_within": c.weights_within, "weights_across": c.weights_across})
    write_atomic(out / "correlation.json", json.dumps({"model": cfg.model, "run_id": cfg.run_id,
                                                       "layers": corr}, indent=2))
    write_atomic(out / "dead.json", json.dumps(dead, indent=2))  # last: its presence marks the run done
    keras.backend.clear_session()
