"""A tuning job's report: every trial as a CSV row, a Markdown summary and a Pareto plot.

Read back from keras-tuner's project folder (``trial_*/trial.json``), so it is the same
whether the search ran in one process or as a chief and workers, and it can be rebuilt
at any time with ``zoo tune SPEC --report-only``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.experiment.report import csv_cell, ensure_dir, markdown_table, pareto_front, write_atomic
from zoo.tune.search import COST_METRICS, KT_PROJECT, REJECTED, knob_values
from zoo.tune.spec import RESOLUTION, TuneSpec, fmt_count

STATUS = {"COMPLETED": "trained", "FAILED": "failed", "INVALID": "failed", "RUNNING": "unfinished",
          "IDLE": "unfinished", "STOPPED": "unfinished"}
METRIC_COLUMNS = ("val_accuracy", "val_top5", "val_loss", "train_accuracy", "train_loss",
                  *COST_METRICS, "epochs", "train_seconds")


def load_trials(project: Path) -> list:
    """keras-tuner trials saved under the job's folder, in trial-id order."""
    from zoo.tune.kt_private import Trial

    files = sorted(Path(project, KT_PROJECT).glob("trial_*/trial.json"))
    return sorted((Trial.load(str(f)) for f in files), key=lambda t: t.trial_id)


def trial_rows(spec: TuneSpec, trials: Sequence) -> list[dict[str, Any]]:
    """One flat row per trial: id, status, knobs, metrics, Pareto flags and why it was rejected."""
    rows = []
    for trial in trials:
        row: dict[str, Any] = {"trial": trial.trial_id}
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        rejected = metrics.get(REJECTED) == 1.0
        row["status"] = "rejected" if rejected else STATUS.get(trial.status, str(trial.status).lower())
        row.update(knob_values(spec, trial.hyperparameters))
        for name in METRIC_COLUMNS:
            value = metrics.get(name)
            row[name] = None if value is None or math.isnan(value) else value
        if rejected:
            row["reason"] = "; ".join(spec.budget.violations(metrics))
        elif row["status"] == "failed":
            row["reason"] = (trial.message or "").strip().splitlines()[-1:] or [""]
            row["reason"] = row["reason"][0][:200]
        else:
            row["reason"] = ""
        rows.append(row)
    trained = [r for r in rows if r["status"] == "trained"]
    for key, flag in (("macs", "pareto_macs"), ("latency_ms", "pareto_latency")):
        on = pareto_front([(r[key], r["val_accuracy"]) for r in trained])
        for r, f in zip(trained, on):
            r[flag] = f
        for r in rows:
            r.setdefault(flag, False)
    return rows


def best_rows(spec: TuneSpec, rows: Sequence[Mapping[str, Any]], n: int = 5) -> list[Mapping[str, Any]]:
    trained = [r for r in rows if r["status"] == "trained" and r.get(spec.objective) is not None]
    return sorted(trained, key=lambda r: r[spec.objective], reverse=spec.direction == "max")[:n]


def write_csv(path: Path, spec: TuneSpec, rows: Sequence[Mapping[str, Any]]) -> None:
    columns = ["trial", "status", *spec.space, *METRIC_COLUMNS, "pareto_macs", "pareto_latency", "reason"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        # Knob values as written in the spec (1.0 stays 1.0, so it pastes back as a float).
        writer.writerow({k: str(row[k]) if k in spec.space else csv_cell(row.get(k)) for k in columns})
    write_atomic(path, buf.getvalue())


def _config(spec: TuneSpec, row: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in spec.space)


def _table(spec: TuneSpec, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    def cells(r):
        return [r["trial"], *(r[k] for k in spec.space),
                "" if r.get("val_accuracy") is None else f"{100 * r['val_accuracy']:.1f}%",
                "" if r.get("params") is None else fmt_count(r["params"]),
                "" if r.get("macs") is None else fmt_count(r["macs"]),
                "" if r.get("latency_ms") is None else f"{r['latency_ms']:.2f}",
                "" if r.get("train_seconds") is None else f"{r['train_seconds']:.0f}"]

    return markdown_table(["trial", *spec.space, "val acc", "params", "MACs", "latency (ms)", "train s"],
                          [cells(r) for r in rows])


def render_markdown(spec: TuneSpec, rows: Sequence[Mapping[str, Any]], png_name: str) -> str:
    counts = {s: sum(r["status"] == s for r in rows) for s in ("trained", "rejected", "failed", "unfinished")}
    budget = ", ".join(f"{k} = {fmt_count(v)}" for k, v in spec.budget.as_dict().items()) or "none"
    ds = spec.dataset
    lines = [f"# Tuning job `{spec.name}`", ""]
    if spec.description:
        lines += [spec.description, ""]
    lines += [
        f"- model: `{spec.model}`; tuner: `{spec.tuner}`; objective: `{spec.objective}` ({spec.direction}); "
        f"max_trials (trained) = {spec.max_trials}",
        "- search space: " + "; ".join(f"`{k}` {_describe(d)}" for k, d in spec.space.items())
        + (f"; fixed: {dict(spec.fixed)}" if spec.fixed else ""),
        f"- budget (checked before training): {budget}",
        f"- data: `{ds['name']}`, train on `{ds['train_split']}` {ds.get('subset', '(all)')}, evaluate on "
        f"`{ds['eval_split']}` {ds.get('eval_subset', '(all)')}, {ds['image_size']} px"
        + (" (or the searched resolution)" if RESOLUTION in spec.space else "")
        + f"; recipe {dict(spec.recipe) or 'defaults'}; seed {spec.seed}",
        f"- trials: {len(rows)} = {counts['trained']} trained + {counts['rejected']} rejected by the budget"
        f" (never trained) + {counts['failed']} failed + {counts['unfinished']} unfinished; "
        f"stopped because {_stop_reason(spec, counts)}",
        f"- reproduce: `zoo tune {spec.path}`",
        "",
        "## Best configurations", "",
    ]
    best = best_rows(spec, rows)
    lines += _table(spec, best) if best else ["No trial finished training."]
    for key, flag, what in (("macs", "pareto_macs", "MACs"), ("latency_ms", "pareto_latency", "latency")):
        front = sorted((r for r in rows if r[flag]), key=lambda r: r[key])
        lines += ["", f"## Pareto set: {spec.objective} versus {what}", "",
                  "Trained configurations that no other is at least as cheap and as accurate as "
                  "(and strictly better on one); cheapest first.", ""]
        lines += _table(spec, front) if front else ["(none)"]
    rejected = [r for r in rows if r["status"] == "rejected"]
    lines += ["", f"## Rejected by the budget ({len(rejected)})", ""]
    if rejected:
        lines += markdown_table(["trial", *spec.space, "why"],
                                [[r["trial"], *(r[k] for k in spec.space), r["reason"]] for r in rejected])
    else:
        lines.append("(none)")
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        lines += ["", f"## Failed ({len(failed)})", ""]
        lines += [f"- trial {r['trial']} ({_config(spec, r)}): {r['reason']}" for r in failed]
    lines += ["", "## All trials", "", f"![accuracy versus cost]({png_name})", ""]
    lines += _table(spec, rows)
    return "\n".join(lines) + "\n"


def _stop_reason(spec: TuneSpec, counts: Mapping[str, int]) -> str:
    if counts["unfinished"]:
        return "it was interrupted (rerun the command to resume)"
    if counts["trained"] + counts["failed"] >= spec.max_trials:
        return f"max_trials = {spec.max_trials} configurations were trained"
    if counts["rejected"] >= spec.max_rejected:
        return f"max_rejected = {spec.max_rejected} configurations were over budget"
    return f"the {spec.tuner} tuner had no new configuration to propose (space exhausted or schedule done)"


def _describe(dim) -> str:
    from zoo.tune.spec import Choice

    if isinstance(dim, Choice):
        return f"in {list(dim.values)}"
    step = f" step {dim.step}" if dim.step is not None else ""
    return f"in [{dim.min}, {dim.max}]{step}" + (" (log)" if dim.log else "")


def plot(spec: TuneSpec, rows: Sequence[Mapping[str, Any]]) -> bytes:
    """PNG: objective against MACs and against latency; fronts drawn; rejected ones as ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)
    trained = [r for r in rows if r["status"] == "trained" and r.get("val_accuracy") is not None]
    rejected = [r for r in rows if r["status"] == "rejected"]
    for ax, key, flag, label, limit in (
            (axes[0], "macs", "pareto_macs", "MACs per image (millions)", spec.budget.max_macs),
            (axes[1], "latency_ms", "pareto_latency", "latency (ms, batch "
             f"{spec.budget.latency_batch})", spec.budget.max_latency_ms)):
        scale = 1e6 if key == "macs" else 1.0
        pts = [r for r in trained if r.get(key) is not None]
        ax.scatter([r[key] / scale for r in pts], [100 * r["val_accuracy"] for r in pts],
                   s=30, color="tab:blue", zorder=3, label="trained")
        for r in pts:
            ax.annotate(str(r["trial"]), (r[key] / scale, 100 * r["val_accuracy"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        front = sorted((r for r in pts if r[flag]), key=lambda r: r[key])
        if front:
            ax.step([r[key] / scale for r in front], [100 * r["val_accuracy"] for r in front], where="post",
                    color="black", lw=1, ls="--", zorder=2, label="Pareto front")
        rej = [r for r in rejected if r.get(key) is not None]
        if rej:
            ax.scatter([r[key] / scale for r in rej], [0] * len(rej), marker="x", color="tab:red",
                       zorder=3, label="rejected (not trained)")
        if limit is not None:
            ax.axvline(limit / scale, color="tab:red", lw=1, ls=":", label="budget")
        xs = [r[key] for r in pts + rej if r.get(key)]
        if xs and min(xs) > 0 and max(xs) / min(xs) > 20:  # costs spanning decades
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"{spec.objective} (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{spec.name}: {spec.model}, {spec.dataset['name']} ({len(trained)} trained, "
                 f"{len(rejected)} rejected)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_report(spec: TuneSpec, project: Path, results_dir: str | Path = "results/tuning") -> Path:
    """Write ``<results_dir>/<job>.md``, ``.csv`` and ``.png``; returns the Markdown path."""
    out = Path(results_dir)
    ensure_dir(out)
    rows = trial_rows(spec, load_trials(project))
    write_csv(out / f"{spec.name}.csv", spec, rows)
    write_atomic(out / f"{spec.name}.png", plot(spec, rows))
    md = out / f"{spec.name}.md"
    write_atomic(md, render_markdown(spec, rows, f"{spec.name}.png"))
    return md
