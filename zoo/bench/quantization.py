"""``zoo quantization``: float32 versus int8 TFLite of every run of a suite, from its results.csv.

The numbers are the ``[run] deploy`` columns ``zoo bench`` measured on each run's checkpoint
(``zoo.experiment.deploy``); this module only reads and compares them, so the report
regenerates in a second and never disagrees with the suite's own table. Per configuration:
the top-1 int8 costs against the float32 TFLite file (the same interpreter, so the drop is
the quantization's alone), the size and latency ratios, and, where the suite measured it,
int8 with one scale per weight tensor against per-channel scales: the comparison the
quantization literature makes on MobileNet v1, whose depthwise filters have very different
ranges per channel.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.bench import results as res
from zoo.experiment.deploy import PER_TENSOR, column
from zoo.experiment.report import generated_by, markdown_table, write_report

COMMAND = "zoo quantization"
DEFAULT_RESULTS = ("results/cifar10-full", "results/cifar10")
DEFAULT_OUT = "results/quantization.md"
CSV_COLUMNS = ("suite", "model", "config", "params", "macs", "seeds", "top1", "float32_top1", "int8_top1",
               "int8_drop", "per_tensor_top1", "per_tensor_drop", "float32_kb", "int8_kb", "size_ratio",
               "float32_ms", "int8_ms", "latency_ratio")


def load(results_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(about the suite, its valid rows)`` of a ``zoo bench`` results directory; a missing or
    broken directory raises naming it. What the suite was is read from the directory itself
    (its suite.toml copy, parsed by the suite loader, results.md header and env.json), not
    from benchmarks/. Rows of configurations the suite no longer lists are left out."""
    from zoo.bench.runner import ENV_JSON, RESULTS_CSV, RESULTS_MD, SUITE_COPY, read_env
    from zoo.bench.spec import load_suite
    from zoo.pick import read_header

    folder = Path(results_dir)
    csv_path = folder / RESULTS_CSV
    if not csv_path.is_file():
        raise FileNotFoundError(f"{folder}: no {RESULTS_CSV} here; give a `zoo bench` results directory "
                                f"(default: {', '.join(DEFAULT_RESULTS)})")
    rows = res.read_rows(csv_path)
    about: dict[str, Any] = {"folder": folder.as_posix(), "name": folder.name,
                             "runs": read_header(folder / RESULTS_MD).get("runs")}
    if (folder / SUITE_COPY).is_file():
        try:
            suite = load_suite(folder / SUITE_COPY, check_files=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"{folder / SUITE_COPY}: cannot read the suite copy: {err}") from None
        about.update(name=suite.name, description=suite.description,
                     recipe=", ".join(f"{k}={v}" for k, v in suite.recipe.items()),
                     formats=list(suite.run.deploy), calibration_images=suite.run.calibration_images)
        planned = {c.run_id for c in suite.configurations()}
        rows = [r for r in rows if r["run_id"] in planned]
    if (folder / ENV_JSON).is_file():
        env = read_env(folder / ENV_JSON)
        about.update(command=env.get("command"), machine=f"{env.get('cpu_model')}, {env.get('cpu_count')} cores")
    return about, [r for r in rows if res.is_valid(r)]


def compare(suite: str, rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(compared, unmeasured)``: one entry per configuration (means over seeds) with float32 and
    int8 TFLite top-1, and the configurations that have no int8 top-1 yet."""
    compared, unmeasured = [], []
    for c in sorted(res.aggregate(rows), key=lambda c: (c["macs"] or 0, c["model"], c["config"])):
        fp32, int8 = c.get(column("float32", "top1")), c.get(column("int8", "top1"))
        if fp32 is None or int8 is None:
            unmeasured.append(c)
            continue
        per_tensor = c.get(column(PER_TENSOR, "top1"))
        fp32_kb, int8_kb = c.get(column("float32", "kb")), c.get(column("int8", "kb"))
        fp32_ms, int8_ms = c.get(column("float32", "ms")), c.get(column("int8", "ms"))
        compared.append({
            "suite": suite, "model": c["model"], "config": c["config"], "params": c["params"], "macs": c["macs"],
            "seeds": c["seeds"], "top1": c["top1"], "float32_top1": fp32, "int8_top1": int8,
            "int8_drop": fp32 - int8, "per_tensor_top1": per_tensor,
            "per_tensor_drop": None if per_tensor is None else fp32 - per_tensor,
            "float32_kb": fp32_kb, "int8_kb": int8_kb, "size_ratio": _ratio(int8_kb, fp32_kb),
            "float32_ms": fp32_ms, "int8_ms": int8_ms, "latency_ratio": _ratio(int8_ms, fp32_ms)})
    return compared, unmeasured


def _ratio(a, b):
    return None if a is None or not b else a / b


def _pct(v):
    return "–" if v is None else f"{100 * v:.2f}"


def _pp(v):
    return "–" if v is None else f"{100 * v:+.2f}"


def _x(v):
    return "–" if v is None else f"{v:.2f}×"


def _name(c):
    return f"{c['model']}({c['config']})" if c["config"] else c["model"]


def summary(compared: Sequence[dict[str, Any]]) -> list[str]:
    """The reading of the table: drops, sizes, speed-ups, and per-tensor against per-channel."""
    if not compared:
        return ["No configuration has both float32 and int8 TFLite top-1 yet."]
    drops = [c["int8_drop"] for c in compared]
    worst = max(compared, key=lambda c: c["int8_drop"])
    lines = [f"- int8 (per-channel) changes top-1 by {_pp(-statistics.fmean(drops))} points on average over "
             f"{len(compared)} configuration(s) (negative = int8 is worse); the largest loss is "
             f"{_pp(-worst['int8_drop'])} points, {_name(worst)}."]
    sizes = [c["size_ratio"] for c in compared if c["size_ratio"] is not None]
    if sizes:
        lines.append(f"- int8 files are {1 / statistics.fmean(sizes):.1f}× smaller than float32 on average "
                     f"(the post-training quantization guide's \"about 4×\" is the weights' share).")
    speed = [c["latency_ratio"] for c in compared if c["latency_ratio"] is not None]
    if speed:
        faster = sum(r < 1 for r in speed)
        lines.append(f"- int8 batch-1 latency is {statistics.median(speed):.2f}× float32's (median); int8 is "
                     f"faster for {faster} of {len(speed)} configuration(s).")
    tensor = [c for c in compared if c["per_tensor_drop"] is not None]
    for c in tensor:
        if c["model"] == "mobilenet":
            lines.append(f"- MobileNet v1 {_name(c)}: int8 with per-tensor weight scales changes top-1 by "
                         f"{_pp(-c['per_tensor_drop'])} points, with per-channel scales by {_pp(-c['int8_drop'])}.")
    if tensor:
        worse = sum(c["per_tensor_drop"] > c["int8_drop"] for c in tensor)
        lines.append(f"- Per-tensor scales lose more than per-channel ones for {worse} of {len(tensor)} "
                     "configuration(s).")
    return lines


def render(suites: Sequence[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]], command: str) -> str:
    lines = ["# Post-training quantization: float32 versus int8 TFLite", "", generated_by(command), "",
             "Every number is a `[run] deploy` column `zoo bench` measured on the run's checkpoint "
             "(`zoo.experiment.deploy`): the TFLite interpreter with XNNPACK at batch 1 on the whole eval split; "
             "int8 has per-channel weight scales, int8 activations and float32 input/output, calibrated on "
             "seeded train images; *change* is int8 top-1 minus float32 TFLite top-1 (the same interpreter, "
             "so it is the quantization's alone), in points of top-1; ratios are int8 / float32. Latency is batch-1 median on the suite's machine.", ""]
    for about, compared, unmeasured in suites:
        lines += [f"## {about['name']}", ""]
        if about.get("description"):
            lines.append(f"- **suite**: {about['description']}")
        if about.get("recipe"):
            lines.append(f"- **schedule**: {about['recipe']}")
        if about.get("formats") is not None:
            lines.append(f"- **deploy formats**: {', '.join(about['formats']) or 'none listed'}"
                         f" (int8 calibration: {about.get('calibration_images')} train images)")
        if about.get("command"):
            lines.append(f"- **rerun**: `{about['command']}` (trains what is missing, measures what is not "
                         f"measured), then `{command}`")
        if about.get("machine"):
            lines.append(f"- **machine**: {about['machine']}")
        if about.get("runs"):
            lines.append(f"- **runs**: {about['runs'].split(' (')[0]}; {len(compared)} configuration(s) measured "
                         "in float32 and int8")
        lines += ["", *summary(compared), ""]
        if compared:
            per_tensor = any(c["per_tensor_top1"] is not None for c in compared)
            header = ["model", "config", "MACs (M)", "Keras top-1 %", "float32 TFLite %", "int8 %", "change"] \
                + (["int8 per-tensor %", "per-tensor change"] if per_tensor else []) \
                + ["float32 KB", "int8 KB", "size ratio", "float32 ms", "int8 ms", "latency ratio"]
            body = []
            for c in compared:
                body.append([f"`{c['model']}`", f"`{c['config']}`" if c["config"] else "", f"{c['macs'] / 1e6:.2f}",
                             _pct(c["top1"]), _pct(c["float32_top1"]), _pct(c["int8_top1"]), _pp(-c["int8_drop"])]
                            + ([_pct(c["per_tensor_top1"]), _pp(-c["per_tensor_drop"]) if c["per_tensor_drop"]
                                is not None else "–"] if per_tensor else [])
                            + [f"{c['float32_kb']:.0f}", f"{c['int8_kb']:.0f}", _x(c["size_ratio"]),
                               f"{c['float32_ms']:.3f}", f"{c['int8_ms']:.3f}", _x(c["latency_ratio"])])
            lines += markdown_table(header, body, ["", "", "r", "r", "r", "r", "r"] + ["r"] * (len(header) - 7))
            lines.append("")
        if unmeasured:
            lines += [f"Not measured yet ({len(unmeasured)}): " + ", ".join(f"`{_name(c)}`" for c in unmeasured)
                      + " (no int8 column: the run predates its checkpoint or the suite's `deploy` setting; "
                      "rerunning `zoo bench` measures every run that has a checkpoint, and "
                      "`zoo bench SUITE --fill-checkpoints` retrains the runs that have none).", ""]
    return "\n".join(lines).rstrip() + "\n"


def write(results_dirs: Sequence[str | Path] = DEFAULT_RESULTS, out: str | Path = DEFAULT_OUT,
          command: str = COMMAND) -> Path:
    """Read every results directory first (a bad one fails before anything is written), then
    write ``out`` and its CSV beside it."""
    suites, flat = [], []
    for folder in results_dirs:
        about, rows = load(folder)
        compared, unmeasured = compare(about["name"], rows)
        suites.append((about, compared, unmeasured))
        flat += compared
    out = Path(out)
    return write_report(out, render(suites, command), out.with_suffix(".csv"), CSV_COLUMNS, flat)

