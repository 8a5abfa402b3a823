"""``zoo conv-types``: each convolution type of the survey at fixed sizes -- MACs against measured time.

The table that shows where FLOPs and speed part ways: a depthwise conv has K²·N/... times
fewer MACs than a standard one but moves as much memory per MAC as a pointwise one, so its
GFLOP/s collapses. Every row is a one-layer Keras model built with ``zoo.layers.make_conv``
(Keras' native ``Conv2D(groups=g)`` sits next to the zoo's ``GroupedConv2D`` for the
grouped rows), its MACs come from ``zoo.cost.analyze``, and all rows are timed interleaved
in graph mode (``tf.function(jit_compile=False)``), median over rounds.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.experiment.provenance import cpu_model, intra_op_threads, load_average
from zoo.experiment.report import ensure_dir, write_atomic
from zoo.perf.compare import Timed, time_interleaved


@dataclass(frozen=True)
class Case:
    """One layer size: ``size``x``size``x``in_channels`` -> ``out_channels``, kernel ``kernel``."""

    size: int
    in_channels: int
    out_channels: int
    kernel: int = 3

    def __str__(self) -> str:
        return f"{self.size}x{self.size}x{self.in_channels}->{self.out_channels}, K={self.kernel}"


DEFAULT_CASES = (Case(56, 128, 128), Case(14, 512, 512))  # an early and a late MobileNet-size layer
DEFAULT_BATCH = 8
GROUPS = (2, 4, 8)
SHUFFLE_GROUPS = 8
# (kind, label, extra make_conv kwargs); "keras_grouped" is keras.layers.Conv2D(groups=g).
ROWS: tuple[tuple[str, str, dict], ...] = (
    ("standard", "standard", {}),
    ("dilated", "dilated d=2", {"dilation": 2}),
    ("pointwise", "pointwise 1x1", {}),
    *((kind, f"{label} g={g}", {"groups": g}) for g in GROUPS
      for kind, label in (("grouped", "grouped (zoo GroupedConv2D auto)"), ("keras_grouped", "grouped (keras Conv2D groups)"))),
    ("depthwise", "depthwise", {}),
    ("separable", "depthwise-separable", {}),
    ("shuffle", f"channel shuffle g={SHUFFLE_GROUPS} (reshape/transpose, zoo)", {}),
    ("shuffle_gather", f"channel shuffle g={SHUFFLE_GROUPS} (gather, fixed permutation)", {}),
)
SETTINGS = {"full": (20, 2, 3), "quick": (2, 1, 1)}  # rounds, calls per round, warm-up


def parse_case(text: str) -> Case:
    """``"56x56x128->128"`` (optionally ``",K=3"``) -> Case."""
    match = re.fullmatch(r"\s*(\d+)x(\d+)x(\d+)->(\d+)(?:\s*,\s*K=(\d+))?\s*", text)
    if not match or match.group(1) != match.group(2):
        raise ValueError(f"--case expects SIZExSIZExIN->OUT[,K=k] with a square size, e.g. 56x56x128->128; "
                         f"got {text!r}")
    size, _, cin, cout, k = match.groups()
    case = Case(int(size), int(cin), int(cout), int(k or 3))
    if min(case.size, case.in_channels, case.out_channels, case.kernel) < 1:
        raise ValueError(f"--case {text!r}: every number must be positive")
    if case.in_channels % max(GROUPS + (SHUFFLE_GROUPS,)) or case.out_channels % max(GROUPS):
        raise ValueError(f"--case {text!r}: channels must be divisible by {max(GROUPS + (SHUFFLE_GROUPS,))} "
                         "(grouped rows use g up to 8)")
    if case.in_channels != case.out_channels:
        raise ValueError(f"--case {text!r}: the depthwise row needs in == out channels")
    return case


def build_layer_model(kind: str, case: Case, extra: dict):
    """A one-layer (two for separable) Keras model of ``kind`` at ``case``'s size."""
    import keras

    from zoo.layers import ChannelShuffle, make_conv

    inputs = keras.Input((case.size, case.size, case.in_channels))
    if kind == "keras_grouped":
        outputs = keras.layers.Conv2D(case.out_channels, case.kernel, padding="same", use_bias=False,
                                      groups=extra["groups"], name="conv")(inputs)
    elif kind in ("shuffle", "shuffle_gather"):
        outputs = ChannelShuffle(SHUFFLE_GROUPS, name="shuffle")(inputs)
    else:
        outputs = make_conv(kind, case.out_channels, case.kernel, name="conv", **extra)(inputs)
    return keras.Model(inputs, outputs, name=kind)


def survey_macs(kind: str, case: Case, extra: dict) -> int:
    """The survey's formulas (M in, N out, K kernel, H·W output positions): what analyze must give."""
    hw, m, n, k = case.size * case.size, case.in_channels, case.out_channels, case.kernel
    if kind in ("standard", "dilated"):
        return hw * n * m * k * k
    if kind == "pointwise":
        return hw * n * m
    if kind in ("grouped", "keras_grouped"):
        return hw * n * m * k * k // extra["groups"]
    if kind == "depthwise":
        return hw * m * k * k
    if kind == "separable":
        return hw * m * k * k + hw * m * n
    return 0  # channel shuffle: a permutation


def _call(kind: str, model, batch: int) -> Callable[[], object]:
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(0).uniform(size=(batch, *model.input_shape[1:])).astype("float32"))
    if kind == "shuffle_gather":
        c = model.input_shape[-1]
        perm = tf.constant(np.arange(c).reshape(SHUFFLE_GROUPS, c // SHUFFLE_GROUPS).T.reshape(-1))
        fwd = tf.function(lambda t: tf.gather(t, perm, axis=-1), jit_compile=False, autograph=False)
    else:
        fwd = tf.function(lambda t: model(t, training=False), jit_compile=False, autograph=False)
    return lambda: fwd(x).numpy()


def run_conv_types(cases, batch: int, quick: bool, out_dir: Path, command: str,
                   progress: Callable[[str], None] = lambda s: None) -> Path:
    """Time every row of ``ROWS`` for every case; write ``conv-types.md`` and ``.csv``; returns the .md path."""
    import keras
    import tensorflow as tf

    from zoo.cost import analyze

    load_before = load_average()
    rounds, per_round, warmup = SETTINGS["quick" if quick else "full"]
    rows = []
    for case in cases:
        timed = []
        for kind, label, extra in ROWS:
            model = build_layer_model(kind, case, extra)
            macs = analyze(model).macs
            timed.append(Timed(label, lambda k=kind, m=model: _call(k, m, batch),
                               {"kind": kind, "label": label, "macs": macs, "survey": survey_macs(kind, case, extra)}))
        progress(f"{case}: {len(timed)} rows, {rounds} rounds")
        time_interleaved(timed, rounds=rounds, calls_per_round=per_round, warmup=warmup)
        standard = next(t for t in timed if t.info["kind"] == "standard")
        for t in timed:
            ms = t.median_ms
            rows.append({
                "case": str(case), "batch": batch, "conv": t.info["label"], "kind": t.info["kind"],
                "macs_per_image": t.info["macs"], "survey_macs": t.info["survey"],
                "macs_vs_standard": t.info["macs"] / standard.info["macs"],
                "median_ms": ms, "p90_ms": t.p90_ms,
                "gflops_per_s": (2 * t.info["macs"] * batch / (ms / 1000) / 1e9) if ms and t.info["macs"] else None,
                "time_vs_standard": ms / standard.median_ms if ms and standard.median_ms else None,
                "error": t.error or ""})
    load_after = load_average()
    ensure_dir(out_dir)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_atomic(out_dir / "conv-types.csv", buf.getvalue())

    def fmt(v, spec):
        return "–" if v is None else format(v, spec)

    md = ["# Convolution types: MACs versus measured time", "",
          f"Generated by `{command}` — do not edit by hand.", "",
          f"- Machine: {cpu_model()}, {os.cpu_count()} cores, {intra_op_threads()} TF intra-op threads; "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
          f"- Load average before: {load_before}; after: {load_after} (shared CPU: read the ratios)",
          f"- Batch {batch}, float32, graph mode (`tf.function(jit_compile=False)`), 'same' padding, no bias; "
          f"rows interleaved round-robin, {rounds} rounds x {per_round} calls, median",
          "- MACs per image from `zoo.cost.analyze` on the one-layer model (equal to the survey formulas; "
          "checked by tests/test_perf.py); GFLOP/s = 2 x MACs x batch / median time", ""]
    for case in cases:
        md += [f"## {case}", "", "| convolution | MACs/image (M) | MACs vs standard | median ms | time vs standard "
               "| GFLOP/s |", "|---|---:|---:|---:|---:|---:|"]
        for r in (r for r in rows if r["case"] == str(case)):
            md.append(f"| {r['conv']} | {r['macs_per_image'] / 1e6:.2f} | {r['macs_vs_standard']:.3f} | "
                      f"{fmt(r['median_ms'], '.3f')} | {fmt(r['time_vs_standard'], '.3f')} | "
                      f"{fmt(r['gflops_per_s'], '.1f')} |" + (f" error: {r['error']}" if r["error"] else ""))
        md.append("")
    path = out_dir / "conv-types.md"
    write_atomic(path, "\n".join(md) + "\n")
    return path
