"""Which configuration fits a compute budget: a published table read as an answer.

    >>> from zoo.pick import load_table, pick
    >>> table = load_table("cifar10")              # results/cifar10/results.csv + its results.md header
    >>> best = pick(table.rows, max_macs=20e6).fits[0]
    >>> best["model"], best["config"], best["top1"]

Rows come from ``zoo.bench.results.read_rows`` and are averaged per configuration by
``zoo.bench.results.aggregate`` (failed runs never count). Nothing here imports Keras or
TensorFlow: the answer takes milliseconds, not the seconds a TensorFlow import costs.

How close values are judged. A configuration with ``n`` > 1 seeds gets the 95% Student's t
interval of its mean top-1, ``mean ± t(0.975, n - 1) · std / √n``; one whose interval
overlaps the best one's is *tied* with it. Overlap is the cautious test: for two equally
noisy configurations over many seeds, intervals that just touch mean a difference at about
the 0.5% level (a 5% two-sample test separates them sooner), so "not tied" is a clear
difference and "tied" means the seeds cannot tell the two apart. With one seed there is no
interval, and the ranking cannot separate close values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from zoo.bench.results import aggregate, failed_rows, read_rows
from zoo.experiment.stats import interval95

REPO = Path(__file__).resolve().parent.parent
RESULTS_ROOT = REPO / "results"
"""The published tables: one directory per suite, each with results.csv and results.md."""
DEFAULT_TABLE = "cifar10"

def _millions(v: float) -> str:
    return f"{v / 1e6:.3g}M"


class Budget(NamedTuple):
    option: str  # on the command line
    column: str  # in results.csv
    label: str
    show: Callable[[float], str]
    example: str


BUDGETS = {  # keyword of `pick` -> its budget
    "max_macs": Budget("--max-macs", "macs", "MACs", _millions, "20e6"),
    "max_params": Budget("--max-params", "params", "params", _millions, "1e6"),
    "max_latency_ms": Budget("--max-latency-ms", "latency_ms", "latency", lambda v: f"{v:.3g} ms", "2.5"),
    # The int8 TFLite file a suite's [run] deploy measured: a budget on it ranks by its top-1 too.
    "max_int8_latency_ms": Budget("--max-int8-latency-ms", "tflite_int8_ms", "int8 TFLite latency",
                                  lambda v: f"{v:.3g} ms", "0.5"),
}
INT8_TOP1 = "tflite_int8_top1"
TIES = ("ties: a configuration is tied with the best when their 95% Student's t intervals of mean "
        "top-1 over seeds overlap (mean ± t(0.975, n-1)·std/√n); configurations with one seed have "
        "no interval and are not judged")
ONE_SEED = ("one seed per configuration: no interval, so the ranking cannot separate close values "
            "(the claims-* tables, with two seeds, show how far top-1 moves between seeds)")
LATENCY = "latency is batch-1 inference on the table's machine (see 'machine'), not on yours"
HEADER_KEYS = ("suite", "dataset", "schedule", "seeds", "latency", "machine", "runs", "reproduce")


# --- finding and reading a table --------------------------------------------------


def published_tables(root: Path = RESULTS_ROOT) -> list[str]:
    """Names of the published tables (directories of ``root`` holding a results.csv)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "results.csv").is_file())


def resolve(source: str | Path | None = None, root: Path = RESULTS_ROOT) -> Path:
    """The results.csv that ``source`` names.

    ``source`` is a results.csv file, a results directory (a published one or a
    ``zoo bench --out`` one), a published table's name (``cifar10``) or its suite file
    (``benchmarks/cifar10.toml``); None is the default table, results/cifar10. Relative
    paths are tried from the working directory, then from the repository.
    """
    text = str(source) if source is not None else DEFAULT_TABLE
    path = Path(text)
    if path.suffix == ".toml":  # a suite file: its published table
        path = Path(path.stem)
    tried = [path] if path.is_absolute() else [path, REPO / path]
    if len(path.parts) == 1:
        tried.append(root / path)  # a name: the published table (after a directory of that name here)
    for candidate in tried:
        if candidate.is_file():
            return candidate
        if (candidate / "results.csv").is_file():
            return candidate / "results.csv"
    if path.is_dir():
        raise FileNotFoundError(f"{text!r} is a directory without results.csv (a `zoo bench --out` "
                                f"directory has one once a run has finished); {_listing(root)}")
    raise FileNotFoundError(f"no results table {text!r}: not a results.csv, a results directory or a "
                            f"published table's name; {_listing(root)}")


def _listing(root: Path) -> str:
    names = published_tables(root)
    return (f"published tables: {', '.join(names)} (in {root})" if names else
            f"no published tables in {root}")


def read_header(md: Path) -> dict[str, str]:
    """The ``- **key**: value`` lines at the top of a results.md (suite, dataset, machine, ...)."""
    header = {}
    try:
        lines = md.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return header
    for line in lines[1:]:
        found = re.match(r"- \*\*(.+?)\*\*: (.*)", line)
        if found:
            header[found[1]] = found[2].replace("`", "")
        elif header and not line.strip():
            break  # the header ends at the first blank line after it
    return header


@dataclass
class Table:
    """A results table: its rows and where they came from."""

    path: Path
    rows: list[dict[str, Any]]
    header: dict[str, str]  # the results.md header; empty when there is no results.md

    @property
    def failed(self) -> int:
        return len(failed_rows(self.rows))


def load_table(source: str | Path | None = None, root: Path = RESULTS_ROOT) -> Table:
    path = resolve(source, root)
    rows = read_rows(path)
    if not rows:
        raise ValueError(f"{path} holds no finished run yet")
    return Table(path, rows, read_header(path.parent / "results.md"))


# --- the choice -------------------------------------------------------------------


def parse_budget(option: str, value: Any) -> float:
    """A budget as a positive finite number, or a ValueError naming the option."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        example = next((b.example for b in BUDGETS.values() if b.option == option), "1")
        raise ValueError(f"invalid {option}={value!r}; allowed: a positive number, e.g. {option} {example}")
    return number


@dataclass
class Pick:
    """What fits the budgets, best first, and what does not."""

    budgets: dict[str, float]
    fits: list[dict[str, Any]]  # aggregated configurations + "interval" and "tied", best first
    over: list[dict[str, Any]]  # measured, but over at least one budget
    unmeasured: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # budget key -> no value
    unscored: list[dict[str, Any]] = field(default_factory=list)  # no top-1 to rank by
    score: str = "top1"  # the column ranked by: int8 TFLite top-1 under an int8 budget

    @property
    def single_seed(self) -> bool:
        return all(c["seeds"] < 2 for c in self.fits)

    def nearest_miss(self) -> dict[str, Any] | None:
        """The configuration that misses the budgets by the smallest factor, with each miss:
        ``{"config": entry, "misses": {budget key: (value, limit)}}``; None if nothing was measured."""
        if not self.over:
            return None

        def worst(c):
            return max(c[BUDGETS[k].column] / limit for k, limit in self.budgets.items())

        entry = min(self.over, key=lambda c: (worst(c), c["macs"] or 0, c["model"], c["config"]))
        misses = {k: (entry[BUDGETS[k].column], limit) for k, limit in self.budgets.items()
                  if entry[BUDGETS[k].column] > limit}
        return {"config": entry, "misses": misses}


def pick(rows: Iterable[Mapping[str, Any]], *, max_macs: float | None = None, max_params: float | None = None,
         max_latency_ms: float | None = None, max_int8_latency_ms: float | None = None) -> Pick:
    """Configurations within every given budget, best mean top-1 first, with intervals and ties.

    A configuration lacking the measurement a budget needs (latency is optional in a suite,
    int8 exists only where ``[run] deploy`` lists it) cannot satisfy it: it lands in
    ``unmeasured`` under that budget, not in ``fits``. Under an int8 latency budget the model
    shipped is the int8 file, so the ranking is by its top-1 (no seed interval: one per run).
    """
    given = {"max_macs": max_macs, "max_params": max_params, "max_latency_ms": max_latency_ms,
             "max_int8_latency_ms": max_int8_latency_ms}
    budgets = {k: parse_budget(BUDGETS[k].option, v) for k, v in given.items() if v is not None}
    result = Pick(budgets, [], [], score=INT8_TOP1 if "max_int8_latency_ms" in budgets else "top1")
    for entry in aggregate(rows):
        missing = [k for k in budgets if entry.get(BUDGETS[k].column) is None]
        for key in missing:
            result.unmeasured.setdefault(key, []).append(entry)
        if missing:
            continue
        if entry.get(result.score) is None:
            result.unscored.append(entry)
            continue
        inside = all(entry[BUDGETS[k].column] <= limit for k, limit in budgets.items())
        (result.fits if inside else result.over).append(entry)
    result.fits.sort(key=lambda c: (-c[result.score], c["macs"] if c["macs"] is not None else math.inf,
                                    c["model"], c["config"]))
    for c in result.fits:
        c["interval"] = interval95(c["top1"], c.get("top1_std"), c["seeds"]) if result.score == "top1" else None
    best = result.fits[0]["interval"] if result.fits else None
    for i, c in enumerate(result.fits):
        # The best is tied with itself; below it, overlap means the upper end reaches its lower end.
        c["tied"] = True if i == 0 else (None if best is None or c["interval"] is None
                                         else c["interval"][1] >= best[0])
    return result


# --- the answer, for people and for machines ---------------------------------------


def name(c: Mapping[str, Any]) -> str:
    return f"{c['model']} ({c['config']})" if c["config"] else c["model"]


def _m(value: float | None) -> str:
    return "" if value is None else f"{value / 1e6:.3f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def budget_text(budgets: Mapping[str, float]) -> str:
    return ", ".join(f"{BUDGETS[k].label} <= {BUDGETS[k].show(v)}" for k, v in budgets.items()) \
        or "none (every configuration)"


def render_text(table: Table, result: Pick, top: int | None = None) -> str:
    lines = [f"table:    {_display(table.path)} ({len(table.rows)} runs)"]
    if table.header:
        lines += [f"  {key + ':':11s}{table.header[key]}" for key in HEADER_KEYS if key in table.header]
    else:
        lines.append("  no results.md beside it: the dataset, schedule and machine behind these numbers "
                     "are not recorded")
    lines += [f"note:     {LATENCY}", f"budget:   {budget_text(result.budgets)}"]
    if table.failed:
        lines.append(f"ignored:  {table.failed} failed run(s) (status other than ok): never picked")
    for key, entries in result.unmeasured.items():
        lines.append(f"ignored:  {len(entries)} configuration(s) without a {BUDGETS[key].column} measurement, "
                     f"which cannot satisfy {BUDGETS[key].option}: " + ", ".join(name(c) for c in entries))
    if result.unscored:
        lines.append(f"ignored:  {len(result.unscored)} configuration(s) without "
                     f"{'int8 TFLite top-1' if result.score == INT8_TOP1 else 'top-1'}: "
                     + ", ".join(name(c) for c in result.unscored))
    lines.append("")
    if not result.fits:
        lines.append(miss_text(result))
        return "\n".join(lines) + "\n"
    total = len(result.fits) + len(result.over) + sum(map(len, result.unmeasured.values()))
    shown = result.fits[:top] if top else result.fits
    more = f" (the first {len(shown)} shown)" if len(shown) < len(result.fits) else ""
    ranked = "int8 TFLite top-1 (the file shipped)" if result.score == INT8_TOP1 else "mean top-1"
    lines.append(f"{len(result.fits)} of {total} configurations fit{more}, best {ranked} first:")
    lines.append("")
    seeded = not result.single_seed
    int8 = any(c.get(INT8_TOP1) is not None for c in shown)
    cols = ["#", "model", "config", "params (M)", "MACs (M)", "latency ms", "top-1 %"] \
        + (["int8 ms", "int8 top-1 %"] if int8 else []) + ["seeds"]
    if seeded:
        cols += ["± std", "95% interval", "tied"]
    cells = []
    for rank, c in enumerate(shown, 1):
        row = [str(rank), c["model"], c["config"], _m(c["params"]), _m(c["macs"]),
               "" if c.get("latency_ms") is None else f"{c['latency_ms']:.2f}", _pct(c["top1"])]
        if int8:
            row += ["" if c.get("tflite_int8_ms") is None else f"{c['tflite_int8_ms']:.3f}", _pct(c.get(INT8_TOP1))]
        row.append(str(c["seeds"]))
        if seeded:
            low_high = c["interval"]
            row += [_pct(c.get("top1_std")), f"{_pct(low_high[0])} – {_pct(low_high[1])}" if low_high else "",
                    {True: "best" if rank == 1 else "tied", False: "", None: "?"}[c["tied"]]]
        cells.append(row)
    lines += _columns(cols, cells, right={"#", "params (M)", "MACs (M)", "latency ms", "top-1 %", "int8 ms",
                                          "int8 top-1 %", "seeds", "± std"})
    lines.append("")
    if seeded:
        lines.append(TIES + ("; '?' marks them" if any(c["tied"] is None for c in shown) else ""))
        if result.fits[0]["interval"] is None:
            lines.append("the best has one seed: nothing can be judged tied with it")
    else:
        lines.append(ONE_SEED)
    return "\n".join(lines) + "\n"


def miss_text(result: Pick) -> str:
    miss = result.nearest_miss()
    head = f"no configuration fits {budget_text(result.budgets)}"
    if miss is None:
        return head + ": none of them has the measurements the budget needs"
    parts = []
    for key, (value, limit) in miss["misses"].items():
        label, show = BUDGETS[key].label, BUDGETS[key].show
        parts.append(f"{label} {show(value)}, {show(value - limit)} over the limit ({value / limit:.2f}x)")
    return f"{head}; the cheapest, {name(miss['config'])}, needs " + " and ".join(parts)


def _columns(cols: Sequence[str], rows: Sequence[Sequence[str]], right: set[str]) -> list[str]:
    widths = [max(len(col), *(len(r[i]) for r in rows)) for i, col in enumerate(cols)]

    def line(cells):
        return "  ".join(c.rjust(w) if col in right else c.ljust(w)
                         for c, w, col in zip(cells, widths, cols)).rstrip()

    return [line(cols), *map(line, rows)]


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def to_dict(table: Table, result: Pick, top: int | None = None) -> dict[str, Any]:
    """The answer as JSON-ready data (top-1 and intervals as fractions, like results.csv)."""

    def entry(c, rank=None):
        out = {"model": c["model"], "config": c["config"], "knobs": c.get("knobs"), "params": c["params"],
               "macs": c["macs"], "latency_ms": c.get("latency_ms"), "top1": c["top1"],
               "int8_latency_ms": c.get("tflite_int8_ms"), "int8_top1": c.get(INT8_TOP1),
               "top1_std": c.get("top1_std"), "seeds": c["seeds"]}
        if rank is not None:
            out = {"rank": rank, **out, "interval95": list(c["interval"]) if c["interval"] else None,
                   "tied": c["tied"]}
        return out

    shown = result.fits[:top] if top else result.fits
    miss = result.nearest_miss() if not result.fits else None
    return {
        "table": str(table.path), "provenance": table.header, "latency_note": LATENCY,
        "budgets": result.budgets, "fitting": len(result.fits),
        "configurations": [entry(c, rank) for rank, c in enumerate(shown, 1)],
        "ties": ONE_SEED if result.single_seed else TIES,
        "failed_runs_ignored": table.failed,
        "unmeasured": {BUDGETS[k].option: [entry(c) for c in v] for k, v in result.unmeasured.items()},
        "unscored": [entry(c) for c in result.unscored],
        "nearest_miss": None if miss is None else {
            **entry(miss["config"]),
            "misses": {BUDGETS[k].option: {"value": v, "limit": lim, "over_by": v - lim, "ratio": v / lim}
                       for k, (v, lim) in miss["misses"].items()}},
        "message": miss_text(result) if not result.fits else None,
    }
