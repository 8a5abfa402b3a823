"""Results on disk: results.csv (one row per finished run), results.md, pareto.png.

Every write goes to a temporary file first and then ``os.replace``s the old one, so a
kill at any moment leaves either the old or the new complete file, never half a row.
The Pareto columns are recomputed on every write because a new run can dominate old ones.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.experiment import deploy
from zoo.experiment.report import csv_cell, csv_text, pareto_front, write_atomic
from zoo.experiment.stats import interval95, overlap

COLUMNS = (
    "run_id", "model", "config", "knobs", "recipe_overrides", "weights", "seed", "dataset", "image_size", "params", "macs",
    "top1", "top5", "head_top1", "val_loss", "train_top1", "latency_ms", "latency_p90_ms", "throughput",
    *deploy.COLUMNS, "train_seconds", "train_images_per_second", "epochs", "pareto", "pareto_latency", "pareto_int8",
    "status", "reason",
    "device", "checkpoint", "finished_at",
)
NUMERIC = {"params": int, "macs": int, "seed": int, "image_size": int, "epochs": int,
           "top1": float, "top5": float, "head_top1": float, "val_loss": float, "train_top1": float,
           "latency_ms": float, "latency_p90_ms": float, "throughput": float, "train_seconds": float,
           "train_images_per_second": float, **deploy.NUMERIC}
JSON_COLUMNS = ("knobs", "recipe_overrides")
PARETO_FLAGS = ("pareto", "pareto_latency", "pareto_int8")
INT8_TOP1, INT8_MS = deploy.column("int8", "top1"), deploy.column("int8", "ms")
OK = "ok"  # a run that finished with finite losses; anything else is recorded but never ranked


def is_valid(row: Mapping[str, Any]) -> bool:
    """A row that may be ranked: rows written before the status column were all valid."""
    return (row.get("status") or OK) == OK


def failed_rows(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in rows if not is_valid(r)]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of results.csv with numbers parsed (empty cells -> None).

    A row cut short (a file damaged outside the runner: the runner itself writes atomically)
    lacks its last column, ``finished_at``: it is left out with a warning, so that
    configuration runs again. A cell that does not parse raises naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        with open(path, newline="") as f:
            rows = [(reader.line_num, row) for reader in [csv.DictReader(f)] for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path}: cannot read the results table: {err}") from None
    complete = []
    for line, row in rows:
        if not _finished(row):
            print(f"zoo bench: warning: {path}:{line}: row {row.get('run_id')!r} is incomplete (no finished_at); "
                  "it is ignored and its configuration runs again", file=sys.stderr)
            continue
        complete.append(_parse_row(row, path, line))
    return complete


def _finished(row: Mapping[str, Any]) -> bool:
    from datetime import datetime

    stamp = row.get("finished_at")
    if not row.get("run_id") or not stamp or None in row:  # None key: more cells than columns
        return False
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        return False
    return True


def _parse_row(row: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
    for key, kind in NUMERIC.items():
        value = row.get(key)
        try:
            row[key] = kind(float(value)) if value not in (None, "") else None
        except ValueError:
            raise ValueError(f"{path}:{line}: column {key!r} holds {value!r}, not a number; fix or delete "
                             "that row (its configuration then runs again)") from None
    for key in PARETO_FLAGS:
        row[key] = row.get(key) == "true"
    for key in JSON_COLUMNS:  # structured knobs; None in rows written before the column existed
        try:
            row[key] = json.loads(row[key]) if row.get(key) else None
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{line}: column {key!r} is not valid JSON ({err.msg}); fix or delete "
                             "that row") from None
    return row


def _normalize(row: Mapping[str, Any]) -> dict[str, Any]:
    """Numbers as they read back from the CSV, so a fresh row ties with stored ones exactly."""
    out = dict(row)
    for key, kind in NUMERIC.items():
        if out.get(key) is not None:
            out[key] = kind(float(csv_cell(out[key])))
    return out


def write_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rewrite results.csv atomically with fresh Pareto flags; returns the rows written."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = mark_pareto([_normalize({**r, "finished_at": r.get("finished_at") or now}) for r in rows])
    write_atomic(path, csv_text(COLUMNS, rows, cell=_cell))
    return rows


def _cell(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict) else csv_cell(value)


def append_row(path: Path, row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Add one finished run; a run id already present is replaced, never duplicated. A row is
    complete once it has ``finished_at`` (``write_rows`` stamps it when the caller gave none)."""
    rows = [r for r in read_rows(path) if r["run_id"] != row["run_id"]]
    return write_rows(path, [*rows, row])


def add_structured_knobs(path: Path, configs) -> int:
    """Rows written before results.csv had a ``knobs`` column get it from the suite's plan
    (the run id names the configuration), so nothing ever parses the config text back.
    Returns how many rows gained it."""
    rows = read_rows(path)
    planned = {c.run_id: c for c in configs}
    missing = [r for r in rows if r.get("knobs") is None and r["run_id"] in planned]
    for row in missing:
        cfg = planned[row["run_id"]]
        row["knobs"], row["recipe_overrides"] = dict(cfg.knobs), dict(cfg.recipe)
    if missing:
        write_rows(path, rows)
    return len(missing)


# --- aggregation and Pareto fronts --------------------------------------------------


def aggregate(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (model, config): accuracy averaged over seeds, costs from the first seed.
    Failed (diverged) runs are left out: their accuracy is not a result."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        if not is_valid(row):
            continue
        groups.setdefault((row["model"], row["config"]), []).append(row)
    out = []
    for (model, config), members in groups.items():
        entry = dict(members[0])
        for key in ("top1", "top5", "latency_ms", "latency_p90_ms", "throughput", "train_seconds",
                    "train_images_per_second", *deploy.COLUMNS):
            values = [m[key] for m in members if m.get(key) is not None]
            entry[key] = statistics.fmean(values) if values else None
        top1 = [m["top1"] for m in members if m.get("top1") is not None]
        entry["top1_std"] = statistics.stdev(top1) if len(top1) > 1 else None
        entry["seeds"] = len(members)
        entry["top1_ci"] = interval95(entry["top1"], entry["top1_std"], len(top1))
        out.append(entry)
    return out


def mark_pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set ``pareto`` (top-1 vs MACs), ``pareto_latency`` (top-1 vs latency) and ``pareto_int8``
    (int8 TFLite top-1 vs int8 latency, where measured) on every row, judged on seed-averaged
    configurations so one lucky seed does not make the front."""
    configs = aggregate(rows)
    keys = [(c["model"], c["config"]) for c in configs]
    by_macs = dict(zip(keys, pareto_front([(c["macs"], c["top1"]) for c in configs])))
    by_latency = dict(zip(keys, pareto_front([(c["latency_ms"], c["top1"]) for c in configs])))
    by_int8 = dict(zip(keys, pareto_front([(c.get(INT8_MS), c.get(INT8_TOP1)) for c in configs])))
    ties = pareto_ties(configs, by_macs)
    for row in rows:
        key = (row["model"], row["config"])
        row["pareto"], row["pareto_latency"] = by_macs.get(key, False), by_latency.get(key, False)
        row["pareto_int8"] = by_int8.get(key, False)
        row["pareto_tie"] = ties.get(key, False)
    return rows


def pareto_ties(configs: Sequence[Mapping[str, Any]], on_front: Mapping[tuple[str, str], bool]) -> dict:
    """Configurations off the MACs front that only the seed noise keeps off it: some front
    configuration at most as costly dominates them, but their 95% intervals of mean top-1
    overlap. (With one seed there is no interval, so nothing is judged tied.)"""
    front = [c for c in configs if on_front.get((c["model"], c["config"]))]
    ties = {}
    for c in configs:
        key = (c["model"], c["config"])
        if on_front.get(key) or c.get("macs") is None:
            continue
        ties[key] = any(f["macs"] is not None and f["macs"] <= c["macs"] and overlap(f.get("top1_ci"), c.get("top1_ci"))
                        for f in front)
    return ties


def reading(rows: Sequence[Mapping[str, Any]], num_classes: int) -> str:
    """One line a newcomer can read the table by: the best configuration, the cheapest one on
    the MACs front, and how the rows stand against chance (1 / classes)."""
    configs = aggregate(mark_pareto([dict(r) for r in rows]))
    scored = [c for c in configs if c.get("top1") is not None]
    if not scored:
        return "reading: no finished run to read yet"

    def name(c):
        return f"{c['model']}({c['config']})" if c["config"] else c["model"]

    best = max(scored, key=lambda c: c["top1"])
    front = sorted((c for c in scored if c["pareto"]), key=lambda c: c["macs"])
    chance = 1.0 / num_classes
    low = [name(c) for c in scored if c["top1"] <= chance]
    parts = [f"best top-1 {100 * best['top1']:.1f}% by {name(best)} at {best['macs'] / 1e6:.1f}M MACs"]
    if front and front[0] is not best:
        parts.append(f"cheapest on the MACs front: {name(front[0])}, {100 * front[0]['top1']:.1f}% at "
                     f"{front[0]['macs'] / 1e6:.1f}M MACs")
    parts.append(f"all {len(scored)} configurations above chance ({100 * chance:.0f}%)" if not low else
                 f"{len(low)} of {len(scored)} at or below chance ({100 * chance:.0f}%): {', '.join(low)}")
    return "reading: " + "; ".join(parts)


# --- the published table and the plot ---------------------------------------------


def _millions(value: int | None) -> str:
    return "" if value is None else f"{value / 1e6:.3f}"


def _pct(value: float | None, std: float | None = None) -> str:
    if value is None:
        return ""
    return f"{100 * value:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def render_markdown(rows: Sequence[Mapping[str, Any]], header: Mapping[str, str], title: str) -> str:
    """The published table: configurations sorted by MACs, Pareto-optimal ones marked ★."""
    configs = sorted(aggregate(mark_pareto([dict(r) for r in rows])),
                     key=lambda c: (c["macs"] if c["macs"] is not None else math.inf, c["model"], c["config"]))
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {v}" for k, v in header.items()]
    has_ci = any(c.get("top1_ci") for c in configs)
    lines += ["", "★ = Pareto-optimal in top-1 versus MACs; ☆ = in top-1 versus latency. "
              "Top-1 is the mean over seeds (± sample std when more than one)."
              + (" 95% CI = Student's t interval of the mean over seeds; ≈ = off the MACs front only within "
                 "the seed noise: a front configuration at most as costly dominates it, but their 95% intervals "
                 "overlap (treat them as tied)." if has_ci else ""), ""]
    has_top5 = any(c.get("top5") is not None for c in configs)
    formats = [f for f in deploy.FORMATS if any(c.get(deploy.column(f, "top1")) is not None for c in configs)]
    if "int8" in formats:
        lines[-2] += " ◆ = Pareto-optimal in int8 TFLite top-1 versus int8 TFLite latency."
    if formats:
        lines[-2] += (" TFLite columns: top-1 through the interpreter on the whole eval split, file size, "
                      "batch-1 latency (median, XNNPACK).")
    cols = ["", "model", "config", "params (M)", "MACs (M)", "top-1 %"] + (["95% CI"] if has_ci else []) \
        + (["top-5 %"] if has_top5 else []) \
        + ["latency ms (p50 / p90)", "inference images/s"] \
        + [f"{f} {label}" for f in formats for label in ("TFLite top-1 %", "KB", "ms")] \
        + ["train s", "train images/s", "seeds"]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for c in configs:
        mark = ("★" if c["pareto"] else "≈" if c.get("pareto_tie") else "") + ("☆" if c["pareto_latency"] else "") \
            + ("◆" if c.get("pareto_int8") else "")
        latency = "" if c.get("latency_ms") is None else \
            f"{c['latency_ms']:.2f} / {c['latency_p90_ms']:.2f}"
        cells = [mark, f"`{c['model']}`", f"`{c['config']}`" if c["config"] else "",
                 _millions(c["params"]), _millions(c["macs"]), _pct(c["top1"], c.get("top1_std"))]
        if has_ci:
            ci = c.get("top1_ci")
            cells.append(f"{100 * ci[0]:.2f}–{100 * ci[1]:.2f}" if ci else "")
        if has_top5:
            cells.append(_pct(c.get("top5")))
        cells += [latency, _num(c.get("throughput"), ".0f")]
        for f in formats:
            cells += [_pct(c.get(deploy.column(f, "top1"))), _num(c.get(deploy.column(f, "kb")), ".0f"),
                      _num(c.get(deploy.column(f, "ms")), ".3f")]
        cells += [_num(c.get("train_seconds"), ".0f"),
                  _num(c.get("train_images_per_second"), ".0f"), str(c["seeds"])]
        lines.append("| " + " | ".join(cells) + " |")
    failed = failed_rows(rows)
    if failed:
        lines += ["", f"**Failed runs ({len(failed)}), recorded but not ranked** (rerun with `--retry-failed` "
                  "to train them again):", ""]
        lines += [f"- `{r['run_id']}` {r['model']}" + (f" `{r['config']}`" if r["config"] else "")
                  + f" seed {r['seed']}: {r.get('status')}: {r.get('reason') or 'no reason recorded'}" for r in failed]
    return "\n".join(lines) + "\n"


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def _short_config(config: str) -> str:
    """``width=0.5;conv="separable"`` -> ``0.5,separable``: labels small enough for a dot."""
    return ",".join(part.split("=", 1)[-1].strip('"') for part in config.split(";"))


def plot_pareto(rows: Sequence[Mapping[str, Any]], title: str = "") -> bytes:
    """PNG bytes: top-1 against MACs and against latency, one colour per model, fronts drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    configs = aggregate(rows)
    models = sorted({c["model"] for c in configs})
    colours = {m: plt.get_cmap("tab20")(i % 20) for i, m in enumerate(models)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)
    for ax, key, label in ((axes[0], "macs", "MACs (millions, log scale)"),
                           (axes[1], "latency_ms", "latency at batch 1 (ms, log scale)")):
        pts = [c for c in configs if c.get(key) is not None and c.get("top1") is not None]
        scale = 1e6 if key == "macs" else 1.0
        for i, model in enumerate(models):
            mine = [c for c in pts if c["model"] == model]
            if mine:
                ax.scatter([c[key] / scale for c in mine], [100 * c["top1"] for c in mine],
                           color=colours[model], marker=MARKERS[i % len(MARKERS)], label=model, s=30, zorder=3)
            for c in mine:  # which grid point each dot is
                if c["config"]:
                    ax.annotate(_short_config(c["config"]), (c[key] / scale, 100 * c["top1"]),
                                xytext=(3, 3), textcoords="offset points", fontsize=6, color="0.35")
        front = sorted((c for c, on in zip(pts, pareto_front([(c[key], c["top1"]) for c in pts])) if on),
                       key=lambda c: c[key])
        if front:
            ax.step([c[key] / scale for c in front], [100 * c["top1"] for c in front],
                    where="post", color="black", lw=1, ls="--", zorder=2, label="Pareto front")
        if pts and all(c[key] > 0 for c in pts):
            ax.set_xscale("log")
            plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
            ax.xaxis.set_major_formatter(plain)
            ax.xaxis.set_minor_formatter(plain)
            ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel(label)
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False)
    fig.suptitle(title or "accuracy versus cost")
    fig.tight_layout(rect=(0, 0, 0.87, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
