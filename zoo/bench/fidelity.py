"""results/fidelity.md: does the short CIFAR-10 schedule rank configurations as full data does?

The published CIFAR-10 table (``results/cifar10``) trains 10 epochs on 10,000 images, so
its ranking may not be the one longer training gives. The fidelity ladder
(``benchmarks/cifar10-full.toml`` -> ``results/cifar10-full``) trains one configuration per
family on all 50,000 images for 20 epochs; every one of them is also a row of the short
suite. This module pairs the two tables' configurations and measures how well the short
ranking predicts the long one: Kendall's tau-b, the concordant and discordant pairs, and
the pairs that flip. It also judges the survey's claim f again on the ladder's rows, with
the code ``zoo claims`` judges it with.

Configurations are paired by what results.csv records as structure: model, ``knobs``,
``recipe_overrides`` (JSON columns) and ``weights``; never by parsing the config text. A run
id cannot pair them: it hashes the data and recipe too, which differ by design. The ladder
trains over several sessions, so the report says how many of its planned configurations
have finished; rerunning ``zoo fidelity`` as rows land brings it up to date.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.bench.results import aggregate, is_valid, read_rows
from zoo.experiment.report import generated_by, markdown_table
from zoo.experiment.stats import overlap

DEFAULT_SHORT, DEFAULT_FULL, DEFAULT_OUT = "results/cifar10", "results/cifar10-full", "results/fidelity.md"
CLAIM_MODELS = ("alexnet", "squeezenet1_0", "squeezenet1_1")  # the models claim f compares
PENDING = "pending: not yet trained"


# --- Kendall's tau-b ---------------------------------------------------------------------


@dataclass(frozen=True)
class Kendall:
    """Kendall's rank correlation of two score lists over the same items."""

    n: int
    concordant: int
    discordant: int
    tied_x: int   # pairs tied in x (including those tied in both)
    tied_y: int
    tau: float | None  # None when undefined: fewer than 2 items, or one list all ties

    @property
    def pairs(self) -> int:
        return self.n * (self.n - 1) // 2


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> Kendall:
    """Tau-b = (C - D) / sqrt((P - Tx)(P - Ty)): ties in either list count for neither side
    and shrink the denominator, so equal top-1s are not forced into an order."""
    if len(x) != len(y):
        raise ValueError(f"kendall_tau_b: lists of different lengths ({len(x)} and {len(y)})")
    n = len(x)
    concordant = discordant = tied_x = tied_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            tied_x += dx == 0
            tied_y += dy == 0
            if dx * dy > 0:
                concordant += 1
            elif dx * dy < 0:
                discordant += 1
    pairs = n * (n - 1) // 2
    denominator = math.sqrt((pairs - tied_x) * (pairs - tied_y))
    tau = (concordant - discordant) / denominator if denominator > 0 else None
    return Kendall(n, concordant, discordant, tied_x, tied_y, tau)


def ranks(values: Sequence[float]) -> list[int]:
    """Competition ranks, 1 = highest; equal values share the better rank."""
    return [1 + sum(other > v for other in values) for v in values]


# --- the two tables ------------------------------------------------------------------------


@dataclass
class Table:
    """One ``zoo bench`` results directory, restricted to the configurations its suite plans."""

    path: Path
    suite: Any            # zoo.bench.spec.Suite, from the directory's suite.toml
    env: dict | None      # env.json, when present
    rows: list[dict]      # results.csv rows of planned run ids
    planned: list         # the suite's RunConfigs
    unkeyed: int = 0      # planned rows without structured knobs (cannot be paired)

    @property
    def label(self) -> str:
        from zoo.experiment.dataset import relative

        return relative(self.path)


def config_key(model: str, knobs: Mapping | None, recipe: Mapping | None, weights: str | None) -> str:
    """What makes two runs the same configuration across suites, as one comparable string."""
    return json.dumps([model, dict(knobs or {}), dict(recipe or {}), weights or None], sort_keys=True)


def row_key(row: Mapping[str, Any]) -> str | None:
    """A results row's configuration key; None for rows written before the ``knobs`` column."""
    if row.get("knobs") is None:
        return None
    return config_key(row["model"], row["knobs"], row.get("recipe_overrides"), row.get("weights"))


def load_table(path: str | Path) -> Table:
    """A results directory: results.csv, the suite.toml copy ``zoo bench`` writes beside it
    (which configurations are planned, and the schedule) and env.json if there. Missing or
    broken files raise naming the path."""
    from zoo.bench.runner import ENV_JSON, RESULTS_CSV, SUITE_COPY, read_env
    from zoo.bench.spec import load_suite

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such results directory (a `zoo bench` output folder with "
                                f"{RESULTS_CSV} and {SUITE_COPY})")
    for name in (RESULTS_CSV, SUITE_COPY):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name}: missing; {path} is not a finished `zoo bench` results "
                                    "directory (run the suite, or pass the right folder)")
    suite = load_suite(path / SUITE_COPY)
    env = read_env(path / ENV_JSON) if (path / ENV_JSON).is_file() else None
    planned = suite.configurations()
    ids = {c.run_id for c in planned}
    rows = [r for r in read_rows(path / RESULTS_CSV) if r["run_id"] in ids]
    return Table(path, suite, env, rows, planned, unkeyed=sum(row_key(r) is None for r in rows))


def configurations(table: Table) -> dict[str, dict[str, Any]]:
    """Seed-averaged configurations (``zoo.bench.results.aggregate``: failed runs left out), keyed
    by ``config_key``. ``aggregate`` groups by model and config, so the key is passed as the config."""
    keyed = [{**r, "config": key, "label": r["config"]} for r in table.rows if (key := row_key(r)) is not None]
    return {c["config"]: c for c in aggregate(keyed) if c.get("top1") is not None}


def _name(entry: Mapping[str, Any]) -> str:
    """``model(config)`` as ``RunConfig.label`` writes it: display only, never parsed."""
    label = entry.get("label") or ""
    return f"{entry['model']}({label})" if label else entry["model"]


# --- the comparison --------------------------------------------------------------------------


@dataclass
class Pair:
    """One configuration measured in both tables."""

    key: str
    name: str
    short: dict
    full: dict
    short_rank: int = 0
    full_rank: int = 0

    @property
    def gain(self) -> float:
        return self.full["top1"] - self.short["top1"]


@dataclass
class Flip:
    """``above`` beat ``below`` on the short table and lost to it on the full one."""

    above: Pair
    below: Pair
    noise: list[str] = field(default_factory=list)  # why the order may be seed noise


@dataclass
class Fidelity:
    """The comparison of the two tables, and where the ladder stands."""

    short: Table
    full: Table
    pairs: list[Pair]
    kendall: Kendall
    flips: list[Flip]
    finished: int             # ladder configurations with a row (valid or failed) for every seed
    partial: list[str]        # "name: k of n seeds" for those with only some seeds so far (still paired)
    failed: list[str]         # names of ladder configurations whose runs all failed
    pending: list[str]        # ladder configurations not yet trained
    not_in_short: list[str]   # ladder configurations the short suite does not plan
    short_missing: list[str]  # planned in both, but the short table has no top-1 for them yet

    @property
    def planned(self) -> int:
        return self.finished + len(self.partial) + len(self.pending)


def compare(short: Table, full: Table) -> Fidelity:
    """Pair the tables' configurations and compare their rankings (full-data order first)."""
    short_configs, full_configs = configurations(short), configurations(full)
    pairs = [Pair(key, _name(f), short_configs[key], f) for key, f in full_configs.items() if key in short_configs]
    pairs.sort(key=lambda p: (-p.full["top1"], -p.short["top1"], p.name))
    for pair, s, f in zip(pairs, ranks([p.short["top1"] for p in pairs]), ranks([p.full["top1"] for p in pairs])):
        pair.short_rank, pair.full_rank = s, f
    kendall = kendall_tau_b([p.short["top1"] for p in pairs], [p.full["top1"] for p in pairs])
    flips = []
    for a in pairs:
        for b in pairs:
            if a.short["top1"] > b.short["top1"] and a.full["top1"] < b.full["top1"]:
                noise = [f"{which}-table 95% intervals overlap" for which, x, y in
                         (("short", a.short, b.short), ("full", a.full, b.full))
                         if overlap(x.get("top1_ci"), y.get("top1_ci"))]
                flips.append(Flip(a, b, noise))
    flips.sort(key=lambda f: (f.below.full_rank, f.above.full_rank))

    short_plan = {config_key(c.model, c.knobs, c.recipe, c.weights) for c in short.planned}
    seen, finished, partial, failed, pending, not_in_short, short_missing = set(), 0, [], [], [], [], []
    full_ids = {r["run_id"] for r in full.rows}
    for cfg in full.planned:
        key = config_key(cfg.model, cfg.knobs, cfg.recipe, cfg.weights)
        if key in seen:  # another seed of a configuration already counted
            continue
        seen.add(key)
        runs = [c for c in full.planned if config_key(c.model, c.knobs, c.recipe, c.weights) == key]
        name = cfg.label
        if key not in short_plan:
            not_in_short.append(name)
        done = sum(c.run_id in full_ids for c in runs)
        if not done:
            pending.append(name)
            continue
        if done == len(runs):
            finished += 1
        else:
            partial.append(f"{name}: {done} of {len(runs)} seeds")
        if key not in full_configs:
            failed.append(name)
        elif key in short_plan and key not in short_configs:
            short_missing.append(name)
    return Fidelity(short, full, pairs, kendall, flips, finished, partial, failed, pending, not_in_short,
                    short_missing)


# --- claim f at the ladder's schedule ---------------------------------------------------------


def claim_f_rows(table: Table, keys: set[str] | None = None) -> list[dict]:
    """Valid rows of claim f's models; ``keys`` keeps only those configurations."""
    return [r for r in table.rows if r["model"] in CLAIM_MODELS and is_valid(r)
            and (keys is None or row_key(r) in keys)]


def judge_claim_f(fid: Fidelity, params: Mapping[str, int] | None = None) -> list[str]:
    """Claim f judged by ``zoo.survey.claims.judge_f`` on the ladder's AlexNet and SqueezeNet
    rows (PENDING until the ladder has trained both), and on the short table's rows of the
    same configurations for comparison. ``params`` (analytic, 224×224 / 1000 classes) is
    computed when not given."""
    from zoo.survey.claims import Claim, judge_f, squeezenet_params

    planned = [c for c in fid.full.planned if c.model in CLAIM_MODELS]
    models = [m for m in CLAIM_MODELS if any(c.model == m for c in planned)]
    lines = ["## Claim f at the ladder's schedule", "",
             ("The survey's claim f (SqueezeNet reaches AlexNet-level accuracy with far fewer parameters), judged "
              "by the same code as in [claims.md](claims.md) on the ladder's AlexNet and SqueezeNet rows, and on the "
              "short table's rows of the same configurations."), ""]
    if "alexnet" not in models or len(models) < 2:
        return lines + [f"Not judged: the ladder (`{fid.full.label}`) plans no AlexNet and SqueezeNet pair.", ""]
    lines += ["Configurations: " + "; ".join(f"`{c.label}`" for c in planned) + ".", ""]
    keys = {config_key(c.model, c.knobs, c.recipe, c.weights) for c in planned}
    judged = []
    for title, table in (("Full data", fid.full), ("Short schedule, same configurations", fid.short)):
        rows = claim_f_rows(table, keys)
        missing = [m for m in models if m not in {r["model"] for r in rows}]
        if missing:
            judged.append((title, table, None, f"{', '.join(missing)} without a finished run"))
        else:
            judged.append((title, table, rows, ""))
    if any(rows for _, _, rows, _ in judged):
        params = dict(params) if params is not None else squeezenet_params(models)
        params = {m: params[m] for m in models}
    for title, table, rows, why in judged:
        claim = Claim("f", "SqueezeNet reaches AlexNet-level accuracy with far fewer parameters")
        if rows and judge_f(claim, rows, params):
            lines += [f"### {title} (`{table.label}`): {claim.verdict}", *claim.measured, ""]
        else:
            lines += [f"### {title} (`{table.label}`): {PENDING}", "",
                      f"{why or 'no top-1 to judge'}; rerun `zoo fidelity` once the rows land.", ""]
    return lines


# --- the report --------------------------------------------------------------------------------


def command_line(short: str, full: str, out: str) -> str:
    """The command that rewrites the report: ``zoo fidelity``, plus any non-default paths."""
    from zoo.experiment.dataset import relative

    parts = ["zoo", "fidelity"]
    for option, value, default in (("--short", short, DEFAULT_SHORT), ("--full", full, DEFAULT_FULL),
                                   ("--out", out, DEFAULT_OUT)):
        if Path(relative(value)) != Path(default):
            parts += [option, relative(value)]
    return shlex.join(parts)


def _schedule(table: Table) -> str:
    """Epochs and image counts (env.json's, else the suite's subset), then the recipe as written."""
    suite, dataset = table.suite, (table.env or {}).get("dataset") or {}
    from zoo.experiment.dataset import subset_text

    train = dataset.get("train_examples")
    evaluate = dataset.get("eval_examples")
    text = (f"{suite.training.epochs} epochs on "
            + (f"{train:,} {suite.dataset['train_split']} images" if train else
               f"{suite.dataset['train_split']} subset {subset_text(suite.dataset.get('subset'))}")
            + ", evaluated on "
            + (f"{evaluate:,} {suite.dataset['eval_split']} images" if evaluate else
               f"{suite.dataset['eval_split']} subset {subset_text(suite.dataset.get('eval_subset'))}"))
    recipe = ", ".join(f"{k}={v}" for k, v in suite.recipe.items())
    return f"{text}; seeds {', '.join(map(str, suite.run.seeds))}" + (f"; recipe {recipe}" if recipe else "")


def _suite_line(table: Table) -> str:
    suite_file = (table.env or {}).get("suite_file") or f"{table.label}/suite.toml"
    return f"`{table.label}` — suite `{suite_file}` ({table.suite.name}): {_schedule(table)}"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _top1(entry: Mapping[str, Any]) -> str:
    ci = entry.get("top1_ci")
    return _pct(entry["top1"]) + (f" ({_pct(ci[0])}–{_pct(ci[1])})" if ci else "")


def render(fid: Fidelity, command: str, claim_lines: Sequence[str]) -> str:
    """The Markdown report: header, tau, per-configuration ranks, flips, what is still missing, claim f."""
    lines = ["# Fidelity: does the short CIFAR-10 schedule rank configurations as full data does?", "",
             generated_by(command), "",
             f"- **short schedule**: {_suite_line(fid.short)}",
             f"- **full data (the ladder)**: {_suite_line(fid.full)}",
             f"- **ladder**: {fid.finished} of {fid.planned} ladder configurations finished"
             + (f" ({len(fid.partial)} partly trained, compared on the seeds so far: {', '.join(fid.partial)})"
                if fid.partial else "")
             + (f" ({len(fid.failed)} failed, not ranked: {', '.join(fid.failed)})" if fid.failed else "")
             + ("" if not fid.pending else f"; pending: {', '.join(fid.pending)}"),
             (f"- **paired**: {len(fid.pairs)} configurations with a top-1 in both tables, matched by model, knobs, "
              "recipe overrides and weights (results.csv's structured columns); top-1 is the mean over seeds, "
              "failed runs left out"),
             (f"- **rerun**: `{command}` (after more ladder runs land: "
              f"`{(fid.full.env or {}).get('command') or 'zoo bench benchmarks/cifar10-full.toml'}`, which resumes)")]
    if fid.not_in_short:
        lines.append(f"- **not in the short suite** (cannot be compared): {', '.join(fid.not_in_short)}")
    if fid.short_missing:
        lines.append(f"- **not yet in the short table**: {', '.join(fid.short_missing)}")
    for table in (fid.short, fid.full):
        if table.unkeyed:
            lines.append(f"- **unpaired**: {table.unkeyed} row(s) of `{table.label}` have no structured knobs "
                         "(written before the knobs column; rerun `zoo bench` on that suite to add them)")
    k = fid.kendall
    lines += ["", "## Rank correlation", ""]
    if k.tau is None:
        why = (f"fewer than 2 paired configurations ({k.n})" if k.n < 2 else
               "every paired configuration ties in one of the tables")
        lines.append(f"Kendall τ-b: **undefined** — {why}. It is computed once at least two ladder "
                     "configurations have finished.")
    else:
        tied = k.pairs - k.concordant - k.discordant
        lines.append(f"Kendall τ-b = **{k.tau:.3f}** over {k.n} configurations: of their {k.pairs} "
                     f"pair{'s' if k.pairs != 1 else ''}, "
                     f"{k.concordant} concordant (same order in both tables), {k.discordant} discordant"
                     + (f", {tied} tied in one table" if tied else "") + ". "
                     "1 = the short table ranks them exactly as full data does, −1 = reversed.")
        if k.n < 8:
            lines.append("")
            lines.append(f"With {k.n} configurations this is a first reading, not a verdict: each pair that "
                         f"changes order moves τ by about {2 / k.pairs:.2f}.")
    one_seed = not any(p.short.get("top1_ci") or p.full.get("top1_ci") for p in fid.pairs)
    if fid.pairs:
        lines += ["", "## Configurations, in full-data order", "",
                  "Rank 1 = highest top-1 among the paired configurations; gain = full-data top-1 − short-schedule "
                  "top-1, in points." + ("" if one_seed else " Parentheses: 95% interval of the mean over seeds."), ""]
        lines += markdown_table(
            ("configuration", "short rank", "short top-1 %", "full rank", "full top-1 %", "gain", "seeds (short / full)"),
            [(f"`{p.name}`", p.short_rank, _top1(p.short), p.full_rank, _top1(p.full), f"{100 * p.gain:+.2f}",
              f"{p.short['seeds']} / {p.full['seeds']}") for p in fid.pairs],
            align=("", "r", "r", "r", "r", "r", "r"))
    lines += ["", "## Pairs that flip", ""]
    if len(fid.pairs) < 2:
        lines.append("None can flip yet: fewer than 2 paired configurations.")
    elif not fid.flips:
        lines.append("None: every pair the short table orders keeps its order on full data.")
    else:
        lines.append("A above B on the short table, below it on full data (top-1 %, short → full):")
        lines.append("")
        for f in fid.flips:
            a, b = f.above, f.below
            note = f" — within noise ({'; '.join(f.noise)})" if f.noise else ""
            lines.append(f"- `{a.name}` {_pct(a.short['top1'])} > `{b.name}` {_pct(b.short['top1'])} short, "
                         f"but {_pct(a.full['top1'])} < {_pct(b.full['top1'])} full{note}")
    if fid.pairs and one_seed:
        lines += ["", ("One seed per configuration in both tables, so no flip can be called within noise: the seed "
                       "spread is not measured (add seeds to the suites' [run] seeds to measure it).")]
    return "\n".join(lines + [""] + list(claim_lines))


def fidelity_report(short: str | Path = DEFAULT_SHORT, full: str | Path = DEFAULT_FULL,
                    out: str | Path = DEFAULT_OUT, params: Mapping[str, int] | None = None) -> tuple[str, Fidelity]:
    """The report's text and the comparison behind it (``params``: see ``judge_claim_f``)."""
    fid = compare(load_table(short), load_table(full))
    text = render(fid, command_line(str(short), str(full), str(out)), judge_claim_f(fid, params))
    return text, fid
