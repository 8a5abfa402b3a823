"""Dead channels: per convolution, which output channels are (near) zero or constant.

For every convolution (Conv2D, GroupedConv2D, DepthwiseConv2D, SeparableConv2D) the
statistics are taken AFTER its BatchNorm and nonlinearity (the chain conv -> BN -> act is
followed while each step has one reader), over a sample of images:
mean |activation|, fraction of non-zero values, variance; plus the following BN's
|gamma| and the L1 norm of each filter. A channel is *zero* when mean |a| <= ``mean_abs``
and *constant* when its variance <= ``variance`` (and not zero); ``low_gamma`` and
``low_weight`` flag small |gamma| / filter norms (signs of a channel on its way out).

Costs come from the one cost model (``zoo.cost.analyze`` rows): a layer's dead channels
cost their share of its params and MACs; ``report.plan`` is the exact-pruning plan
(``zoo.analysis.prune``) whose predicted saving ``zoo prune`` realises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np

from zoo.analysis.graph import _inputs, build_channel_graph
from zoo.common import invalid


@dataclass(frozen=True)
class Thresholds:
    mean_abs: float = 1e-6
    variance: float = 1e-8
    gamma: float = 1e-3
    weight_norm: float = 1e-6

    def __post_init__(self):
        for name in ("mean_abs", "variance", "gamma", "weight_norm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise invalid("dead_channels", name, value, "a number >= 0")


@dataclass
class LayerDead:
    name: str
    type: str
    stats_of: str                 # the layer whose output was measured (the conv's activation)
    channels: int
    mean_abs: np.ndarray
    nonzero_fraction: np.ndarray
    variance: np.ndarray
    gamma: np.ndarray | None
    weight_norm: np.ndarray
    zero: list[int]
    constant: list[int]
    low_gamma: list[int]
    low_weight: list[int]
    params: int
    macs: int
    receptive_field: tuple

    @property
    def dead(self) -> list[int]:
        return sorted(set(self.zero) | set(self.constant))

    @property
    def dead_share(self) -> float:
        return len(self.dead) / self.channels

    @property
    def dead_params(self) -> int:
        return round(self.params * self.dead_share)

    @property
    def dead_macs(self) -> int:
        return round(self.macs * self.dead_share)


@dataclass
class DeadReport:
    model: str
    samples: int
    thresholds: Thresholds
    layers: list[LayerDead] = field(default_factory=list)
    plan: object = None  # zoo.analysis.prune.PrunePlan of the exactly-dead channels
    plan_error: str = ""  # why no plan could be made (a layer prune cannot slice)

    def layer(self, name: str) -> LayerDead:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"no convolution named {name!r}; have {[r.name for r in self.layers]}")

    def to_dict(self) -> dict:
        """The per-layer report as JSON-able data (``zoo analyze --json``)."""
        rows = [{"name": r.name, "type": r.type, "channels": r.channels, "dead": r.dead, "zero": r.zero,
                 "constant": r.constant, "low_gamma": r.low_gamma, "low_weight": r.low_weight,
                 "dead_params": r.dead_params, "dead_macs": r.dead_macs, "params": r.params, "macs": r.macs,
                 "receptive_field": list(r.receptive_field)} for r in self.layers]
        return {"model": self.model, "samples": self.samples, "layers": rows,
                "removable_params": self.plan.predicted_params_saved if self.plan else None,
                "removable_macs": self.plan.predicted_macs_saved if self.plan else None}

    def format_table(self) -> str:
        head = ("layer", "type", "ch", "dead", "share", "zero", "const", "lowγ", "params", "MACs", "RF")
        body = [(r.name, r.type, str(r.channels), str(len(r.dead)), f"{r.dead_share:.0%}", str(len(r.zero)),
                 str(len(r.constant)), str(len(r.low_gamma)), f"{r.dead_params:,}", f"{r.dead_macs:,}",
                 "×".join(str(s) for s in r.receptive_field)) for r in self.layers]
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
        line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                                       for i, (c, w) in enumerate(zip(cells, widths)))
        dead = sum(len(r.dead) for r in self.layers)
        total = sum(r.channels for r in self.layers)
        out = [f"{self.model}: dead channels over {self.samples} images ({self.thresholds})",
               "params/MACs = the dead channels' share of each layer's cost; RF = receptive field",
               line(head), *map(line, body),
               f"dead channels: {dead} of {total} ({dead / max(total, 1):.1%})"]
        if self.plan_error:
            out.append(f"no pruning plan: {self.plan_error}")
        if self.plan is not None:
            out.append(f"exactly removable (zero wherever read): params -{self.plan.predicted_params_saved:,}, "
                       f"MACs -{self.plan.predicted_macs_saved:,}  (zoo prune --dead)")
        return "\n".join(out)


def _readers(graph):
    readers = {}
    for node in graph.nodes:
        for t in node.input_tensors:
            readers.setdefault(id(t), []).append(node)
    return readers


def _activation_output(graph, readers, node):
    """Follow conv -> BN -> activation while each step is the only reader."""
    tensor, source = node.outputs[0], node.operation.name
    while True:
        nxt = readers.get(id(tensor), [])
        if len(nxt) != 1:
            return tensor, source
        layer = nxt[0].operation
        elementwise = isinstance(layer, (keras.layers.BatchNormalization, keras.layers.ReLU,
                                         keras.layers.Activation, keras.layers.LeakyReLU))
        if not elementwise:
            return tensor, source
        tensor, source = nxt[0].outputs[0], layer.name


def _bn_after(readers, node):
    nxt = readers.get(id(node.outputs[0]), [])
    if len(nxt) == 1 and isinstance(nxt[0].operation, keras.layers.BatchNormalization) and nxt[0].operation.scale:
        return np.abs(keras.ops.convert_to_numpy(nxt[0].operation.gamma))
    return None


def _filter_norms(layer) -> np.ndarray:
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        k = keras.ops.convert_to_numpy(layer.kernel)  # (kh, kw, in, m) -> out channel c*m+j
        return np.abs(k).sum(axis=(0, 1)).reshape(-1)
    k = keras.ops.convert_to_numpy(layer.pointwise_kernel if isinstance(layer, keras.layers.SeparableConv2D)
                                   else layer.kernel)
    return np.abs(k).reshape(-1, k.shape[-1]).sum(axis=0)


def dead_channels(model, images, thresholds: Thresholds | None = None, *, batch_size: int = 32,
                  with_plan: bool = True) -> DeadReport:
    """Measure every convolution's output channels over ``images`` (N, H, W, C)."""
    from zoo.analysis.prune import plan_pruning
    from zoo.cost import analyze

    thresholds = thresholds or Thresholds()
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"dead_channels: images must be a non-empty (N, H, W, C) array, got shape {images.shape}")
    expected = tuple(model.input_shape[1:])
    if any(e is not None and e != s for e, s in zip(expected, images.shape[1:])):
        raise ValueError(f"dead_channels: model {model.name!r} takes {expected} images, got {images.shape[1:]}")
    costs = {r.name: r for r in analyze(model).rows}  # raises early for models the cost model cannot walk
    graph = build_channel_graph(model)
    readers = _readers(graph)
    convs = [n for n in graph.nodes if isinstance(n.operation, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D))]
    if not convs:
        raise ValueError(f"dead_channels: model {model.name!r} has no convolution")
    measured = [_activation_output(graph, readers, n) for n in convs]
    probe = keras.Model(_inputs(model), [t for t, _ in measured])
    n = len(images)
    sums = sq = nonzero = abs_sum = None
    for start in range(0, n, batch_size):
        outs = probe(images[start:start + batch_size], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        flat = [keras.ops.convert_to_numpy(o).astype("float64").reshape(-1, o.shape[-1]) for o in outs]
        step = [(f.sum(0), (f * f).sum(0), (f != 0).sum(0), np.abs(f).sum(0), len(f)) for f in flat]
        if sums is None:
            sums, sq, nonzero, abs_sum, count = ([s[i] for s in step] for i in range(5))
        else:
            for i, s in enumerate(step):
                sums[i] += s[0]; sq[i] += s[1]; nonzero[i] += s[2]; abs_sum[i] += s[3]; count[i] += s[4]  # noqa: E702
    report = DeadReport(model.name, n, thresholds)
    for i, (node, (_, source)) in enumerate(zip(convs, measured)):
        layer = node.operation
        mean = sums[i] / count[i]
        variance = np.maximum(sq[i] / count[i] - mean ** 2, 0.0)
        mean_abs = abs_sum[i] / count[i]
        gamma = _bn_after(readers, node)
        norms = _filter_norms(layer)
        zero = [int(c) for c in np.flatnonzero(mean_abs <= thresholds.mean_abs)]
        constant = [int(c) for c in np.flatnonzero(variance <= thresholds.variance) if c not in set(zero)]
        row = costs[layer.name]
        report.layers.append(LayerDead(
            layer.name, type(layer).__name__, source, len(mean), mean_abs, nonzero[i] / count[i], variance, gamma,
            norms, zero, constant,
            [int(c) for c in np.flatnonzero(gamma <= thresholds.gamma)] if gamma is not None else [],
            [int(c) for c in np.flatnonzero(norms <= thresholds.weight_norm)],
            row.params, row.macs, row.receptive_field))
    if with_plan:
        try:
            report.plan = plan_pruning(model, dead_on=images, atol=thresholds.mean_abs)
        except ValueError as err:
            report.plan_error = str(err)
    return report


def write_tensorboard(report: DeadReport, log_dir) -> None:
    """Per-layer dead share, dead params/MACs as scalars (step = layer index), histograms of the stats."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for step, row in enumerate(report.layers):
            tf.summary.scalar("dead/share", row.dead_share, step=step, description=row.name)
            tf.summary.scalar("dead/params", row.dead_params, step=step)
            tf.summary.scalar("dead/macs", row.dead_macs, step=step)
            tf.summary.histogram(f"mean_abs/{row.name}", row.mean_abs, step=0)
            tf.summary.histogram(f"nonzero_fraction/{row.name}", row.nonzero_fraction, step=0)
            if row.gamma is not None:
                tf.summary.histogram(f"bn_gamma/{row.name}", row.gamma, step=0)
        tf.summary.text("dead/report", "```\n" + report.format_table() + "\n```", step=0)
    writer.flush()
