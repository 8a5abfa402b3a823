"""The papers' published params and MACs next to ``zoo.cost.analyze``'s: results/costs.md and costs.csv.

The figures are data (``zoo.cost.paper.PAPER_FIGURES``, each with its source); this module
only compares and writes, through the experiment layer's one report writer.
"""

from __future__ import annotations

from pathlib import Path

CSV_COLUMNS = ("model", "knobs", "input_shape", "quantity", "paper", "paper_value", "ours", "ratio", "tolerance",
               "ok", "counts", "source", "note")
COMMAND = "zoo costs"


def format_count(n) -> str:
    return "missing" if n is None else f"{n:,}"


def markdown(rows) -> str:
    from zoo.cost import MACS_NOTE
    from zoo.experiment.provenance import versions
    from zoo.experiment.report import generated_by

    lines = ["# Costs: zoo.cost.analyze versus the published figures", "",
             generated_by(COMMAND) + f" Software: {versions()}.", "",
             MACS_NOTE + ". `params` = `model.count_params()` (incl. BatchNorm moving statistics); "
             "`trainable_params` = learned weights, what papers and torchvision count. Each configuration "
             "is the registered model's defaults plus the knobs shown, costed for one example of the "
             "input shape shown (1000 classes for ImageNet models, 10 for the CIFAR ResNets). A row passes within "
             "max(3%, half the last printed digit) of the figure, exact integers exactly, or the "
             "tolerance its note explains (`zoo/cost/paper.py`).", "",
             "| configuration | input | quantity | published | ours | ratio | tolerance | ok "
             "| what the source counts | source |",
             "|---|---|---|---:|---:|---:|---:|:-:|---|---|"]
    for r in rows:
        f = r.figure
        ratio = "" if r.ratio is None else f"{r.ratio:.4f}"
        verdict = {True: "yes", False: "**NO**", None: "—"}[r.ok]
        counts = f.counts + (f" — {f.note}" if f.note else "") + (f" — {r.missing}" if r.missing else "")
        shape = "—" if r.input_shape is None else "×".join(map(str, r.input_shape))
        lines.append(f"| `{f.config()}` | {shape} | {f.quantity} | {f.printed} | {format_count(r.ours)} | {ratio} | "
                     f"±{f.allowed_error:.1%} | {verdict} | {counts} | {f.source} |")
    failed = sum(r.ok is False for r in rows)
    missing = sum(r.ok is None for r in rows)
    lines += ["", f"{len(rows)} figures: {len(rows) - failed - missing} match, {failed} outside tolerance, "
              f"{missing} not measured (model not registered)."]
    return "\n".join(lines) + "\n"


def csv_rows(rows) -> list[dict]:
    out = []
    for r in rows:
        f = r.figure
        out.append({"model": f.model, "knobs": str(dict(f.knobs)),
                    "input_shape": "" if r.input_shape is None else "x".join(map(str, r.input_shape)),
                    "quantity": f.quantity, "paper": f.printed, "paper_value": f"{f.value:.0f}",
                    "ours": "" if r.ours is None else str(r.ours), "ratio": "" if r.ratio is None else f"{r.ratio:.6f}",
                    "tolerance": f"{f.allowed_error:.4f}", "ok": "" if r.ok is None else str(r.ok),
                    "counts": f.counts, "source": f.source, "note": f.note or r.missing})
    return out


def write_csv(rows, path: Path) -> None:
    from zoo.experiment.report import csv_text, write_atomic

    write_atomic(path, csv_text(CSV_COLUMNS, csv_rows(rows), cell=lambda v: "" if v is None else str(v)))


def compare_figures(pattern: str = "*", progress=None):
    """The comparison rows of every figure whose model matches ``pattern``."""
    import fnmatch

    from zoo.cost.paper import PAPER_FIGURES, compare

    figures = [f for f in PAPER_FIGURES if fnmatch.fnmatch(f.model, pattern)]
    if not figures:
        models = sorted({f.model for f in PAPER_FIGURES})
        raise ValueError(f"invalid --only={pattern!r}: no figure matches; models with figures: {', '.join(models)}")
    return compare(figures, progress=progress)


def write_costs(rows, out_dir: Path) -> Path:
    """``out_dir/costs.md`` and ``costs.csv``; returns the .md path."""
    from zoo.experiment.report import write_report

    path = write_report(Path(out_dir) / "costs.md", markdown(rows))
    write_csv(rows, Path(out_dir) / "costs.csv")
    return path
