"""``zoo finetune-report``: from scratch versus fine-tuned, the same architecture on the same data.

A fine-tuning suite lists each architecture twice, once plain and once with ``weights = ...``
(a checkpoint or a pretrained tag) and the same knobs; everything else (data, epochs, the
rest of the recipe) is the suite's. This report pairs each fine-tuned row with the scratch
row of the same model and knobs and says what the starting weights bought: final top-1,
the top-1 after the head-only epochs (the frozen backbone's features alone), and the
training time. It reads results.csv only, like every report here.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.bench import results as res
from zoo.experiment.report import generated_by, markdown_table, write_report

COMMAND = "zoo finetune-report"
DEFAULT_RESULTS = "results/finetune-tiny-imagenet-10"
DEFAULT_OUT = "results/finetune.md"
CSV_COLUMNS = ("model", "knobs", "weights", "scratch_top1", "finetuned_top1", "gain", "head_top1",
               "scratch_seconds", "finetuned_seconds", "seeds")


def _key(row) -> tuple[str, str]:
    import json

    return row["model"], json.dumps(row.get("knobs") or {}, sort_keys=True)


def pairs(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(paired, unpaired)``: each fine-tuned configuration with the scratch one of the same
    model and knobs (means over seeds), and the fine-tuned ones whose scratch row is missing."""
    valid = [r for r in rows if res.is_valid(r)]
    scratch = {_key(r): r for r in res.aggregate([r for r in valid if not r.get("weights")])}
    paired, unpaired = [], []
    tuned_rows = [r for r in valid if r.get("weights")]
    for tuned in sorted(res.aggregate(tuned_rows), key=lambda c: (c["macs"] or 0, c["model"], c["config"])):
        base = scratch.get(_key(tuned))
        if base is None:
            unpaired.append(tuned)
            continue
        heads = [r["head_top1"] for r in tuned_rows if r["config"] == tuned["config"] and r["model"] == tuned["model"]
                 and r.get("head_top1") is not None]
        paired.append({"model": tuned["model"], "knobs": tuned.get("knobs") or {}, "weights": tuned["weights"],
                       "macs": tuned["macs"], "scratch_top1": base["top1"], "finetuned_top1": tuned["top1"],
                       "gain": tuned["top1"] - base["top1"],
                       "head_top1": statistics.fmean(heads) if heads else None,
                       "scratch_seconds": base.get("train_seconds"), "finetuned_seconds": tuned.get("train_seconds"),
                       "seeds": min(tuned["seeds"], base["seeds"])})
    return paired, unpaired


def _pct(v):
    return "–" if v is None else f"{100 * v:.2f}"


def _knobs(knobs) -> str:
    return ", ".join(f"{k}={v}" for k, v in knobs.items())


def render(about: dict[str, Any], paired, unpaired, command: str) -> str:
    lines = ["# Fine-tuning: from scratch versus from a zoo checkpoint", "", generated_by(command), ""]
    for key in ("suite", "dataset", "schedule", "seeds", "machine", "runs", "reproduce"):
        if about.get(key):
            lines.append(f"- **{key}**: {about[key]}")
    lines += ["", "Each fine-tuned run gets a new head for the data's classes, trains it alone for the recipe's "
              "`head_epochs` with the backbone frozen (BatchNorm in inference mode), then trains the whole "
              "network for the remaining epochs; the scratch run trains the same architecture for the same "
              "total epochs from random weights. *head-only* is the top-1 after the frozen-backbone epochs. "
              "Train seconds are each run's own wall-clock time; scratch rows may be reused from another "
              "suite's session and the machine is shared, so compare times only loosely.", ""]
    if not paired:
        lines.append("No fine-tuned run has a finished scratch counterpart yet.")
    else:
        gains = [p["gain"] for p in paired]
        better = sum(g > 0 for g in gains)
        lines += [f"Fine-tuning beats training from scratch for {better} of {len(paired)} architecture(s); "
                  f"mean gain {100 * statistics.fmean(gains):+.2f} points of top-1.", ""]
        body = [[f"`{p['model']}`", _knobs(p["knobs"]), f"`{p['weights']}`", f"{p['macs'] / 1e6:.2f}",
                 _pct(p["scratch_top1"]), _pct(p["head_top1"]), _pct(p["finetuned_top1"]),
                 f"{100 * p['gain']:+.2f}",
                 "–" if p["scratch_seconds"] is None else f"{p['scratch_seconds']:.0f}",
                 "–" if p["finetuned_seconds"] is None else f"{p['finetuned_seconds']:.0f}", str(p["seeds"])]
                for p in paired]
        lines += markdown_table(["model", "knobs", "starting weights", "MACs (M)", "scratch top-1 %",
                                 "head-only top-1 %", "fine-tuned top-1 %", "gain (points)", "scratch train s",
                                 "fine-tune train s", "seeds"], body,
                                ["", "", "", "r", "r", "r", "r", "r", "r", "r", "r"])
    if unpaired:
        lines += ["", f"Without a scratch row yet ({len(unpaired)}): "
                  + ", ".join(f"`{c['model']}` {_knobs(c.get('knobs') or {})}" for c in unpaired)]
    return "\n".join(lines).rstrip() + "\n"


def write(results_dir: str | Path = DEFAULT_RESULTS, out: str | Path = DEFAULT_OUT, command: str = COMMAND) -> Path:
    from zoo.bench.quantization import load
    from zoo.pick import read_header

    folder = Path(results_dir)
    _, rows = load(folder)  # the suite's planned, valid rows; a missing directory raises naming it
    about = read_header(folder / "results.md")  # dataset, schedule, machine, reproduce: as the suite's table says
    paired, unpaired = pairs(rows)
    flat = [{**p, "knobs": _knobs(p["knobs"])} for p in paired]
    out = Path(out)
    return write_report(out, render(about, paired, unpaired, command), out.with_suffix(".csv"), CSV_COLUMNS, flat)
