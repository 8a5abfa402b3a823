"""``analyze(model)``: walk a Keras functional graph once and cost every layer call.

The walk follows the graph the model was built from (``model._nodes_by_depth``, the
same order Keras runs it in), carrying for every tensor a concrete shape for ONE
example (batch 1) and its receptive field. Each layer call becomes a ``LayerCost`` row;
a model used as a layer is walked recursively (its rows are named ``outer/inner``).
Shapes come from ``compute_output_spec`` so ``input_shape=`` can re-cost a model built
for another resolution (or with ``None`` spatial dims) without rebuilding it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import keras
from keras.src.layers.input_spec import assert_input_compatibility  # no public alias in Keras 3

from zoo.cost.rules import FREE_OPS, Field, find_rule, merged_field

MACS_NOTE = "MACs = multiply-accumulates (papers' mult-adds / FLOPs); FLOPs = 2 × MACs"


@dataclass
class LayerCost:
    """One layer call: shapes exclude the batch axis; ``params`` only on a layer's first call."""

    name: str
    type: str
    input_shapes: list[tuple[int, ...]]
    output_shape: tuple[int, ...]
    params: int
    trainable_params: int
    macs: int
    receptive_field: tuple[int | float, ...]
    jump: tuple[int | float, ...]
    activations: int

    def to_dict(self) -> dict:
        out = asdict(self)
        out["input_shapes"] = [list(s) for s in self.input_shapes]
        out["output_shape"] = list(self.output_shape)
        out["receptive_field"] = list(self.receptive_field)
        out["jump"] = list(self.jump)
        return out


@dataclass
class CostReport:
    """Costs of one forward pass on ONE example. ``flops`` is 2 × ``macs`` (never counted apart)."""

    model: str
    input_shape: tuple[int, ...] | list[tuple[int, ...]]
    rows: list[LayerCost] = field(default_factory=list)
    receptive_field: tuple[int | float, ...] = ()

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def trainable_params(self) -> int:
        return sum(r.trainable_params for r in self.rows)

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def activations(self) -> int:
        return sum(r.activations for r in self.rows)

    def totals(self) -> dict:
        return {"params": self.params, "trainable_params": self.trainable_params,
                "non_trainable_params": self.non_trainable_params, "macs": self.macs,
                "flops": self.flops, "activations": self.activations,
                "receptive_field": list(self.receptive_field)}

    def to_dict(self) -> dict:
        shape = self.input_shape
        shape = [list(s) for s in shape] if shape and isinstance(shape[0], tuple) else list(shape)
        return {"model": self.model, "input_shape": shape, "totals": self.totals(), "note": MACS_NOTE,
                "rows": [r.to_dict() for r in self.rows]}

    def top(self, n: int) -> list[LayerCost]:
        """The ``n`` rows with the most MACs (ties: more parameters first)."""
        return sorted(self.rows, key=lambda r: (r.macs, r.params), reverse=True)[:n]

    def format_table(self, top: int | None = None) -> str:
        """A printable table (all rows in graph order, or the ``top`` costliest) and the totals."""
        rows = self.rows if top is None else self.top(top)
        header = ("layer", "type", "output shape", "params", "MACs", "RF", "jump")
        body = [(r.name, r.type, _shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}",
                 _shape(r.receptive_field), _shape(r.jump)) for r in rows]
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
        right = {3, 4}

        def line(cells):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        rule = "-" * len(line(header))
        title = f"{self.model}: input {_shape(self.input_shape)}"
        if top is not None:
            title += f", {len(rows)} costliest of {len(self.rows)} layer calls"
        out = [title, rule, line(header), rule, *map(line, body), rule,
               f"params            {self.params:>16,}  ({human(self.params)})",
               f"  trainable       {self.trainable_params:>16,}",
               f"  non-trainable   {self.non_trainable_params:>16,}",
               f"MACs              {self.macs:>16,}  ({human(self.macs)})",
               f"FLOPs (2 × MACs)  {self.flops:>16,}  ({human(self.flops)})",
               f"activations       {self.activations:>16,}  (output elements, all layers)",
               f"receptive field   {_shape(self.receptive_field):>16}",
               MACS_NOTE]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.format_table()


def human(n: float) -> str:
    """4253864 -> '4.25 M'; 568740352 -> '568.7 M'; 4.9e9 -> '4.87 G'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.1f} {unit}"
    return str(n)


def _shape(shape) -> str:
    if shape and isinstance(shape[0], (tuple, list)):
        return ", ".join(_shape(s) for s in shape)
    return "×".join(str(s) for s in shape) if shape else "-"


def _number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


# --- the walk ------------------------------------------------------------------------------


class _Walk:
    def __init__(self, input_size: tuple[int, ...]):
        self.input_size = input_size
        self.rows: list[LayerCost] = []
        self.seen_weights: set[int] = set()

    def graph_of(self, model):
        """The functional graph behind ``model`` (Sequential keeps one in ``_functional``)."""
        graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
        if graph is None or not hasattr(graph, "_nodes_by_depth"):
            kind = "unbuilt Sequential" if isinstance(model, keras.Sequential) else "subclassed"
            raise ValueError(
                f"analyze: model {model.name!r} ({type(model).__name__}) is a {kind} model without a "
                "layer graph; build it from keras.Input (functional or Sequential with an Input) "
                "so its layers can be walked")
        return graph

    def run(self, graph, inputs: list, prefix: str, with_input_rows: bool) -> list:
        """Walk ``graph`` with (spec, field) values for its inputs; return those of its outputs."""
        values = {id(t): v for t, v in zip(graph.inputs, inputs)}
        if with_input_rows:
            for t, (spec, fld) in zip(graph.inputs, inputs):
                op = t._keras_history.operation
                self.rows.append(self._row(prefix + (op.name if op else "input"), "InputLayer", [],
                                           [spec], 0, 0, 0, fld))
        for depth in sorted(graph._nodes_by_depth, reverse=True):
            for node in graph._nodes_by_depth[depth]:
                if node.is_input or not node.operation:
                    continue
                if any(id(t) not in values for t in node.input_tensors):
                    continue  # not reachable from these inputs (as Keras does)
                outs = self.call(node, values, prefix)
                for t, v in zip(node.outputs, outs):
                    values[id(t)] = v
        return [values[id(t)] for t in graph.outputs]

    def call(self, node, values: dict, prefix: str) -> list:
        op = node.operation
        in_values = [values[id(t)] for t in node.input_tensors]
        if isinstance(op, keras.Model):
            return self.run(self.graph_of(op), in_values, f"{prefix}{op.name}/", with_input_rows=False)

        specs = {id(t): v[0] for t, v in zip(node.input_tensors, in_values)}
        args, kwargs = node.arguments.fill_in(specs)
        if isinstance(op, keras.layers.Layer) and op.input_spec is not None and args:
            try:  # what Layer.__call__ checks: a Dense built for 72 features cannot take 128
                assert_input_compatibility(op.input_spec, args[0], op.name)
            except ValueError as err:
                raise ValueError(f"analyze: layer {prefix}{op.name!r} cannot take input shape "
                                 f"{[_no_batch(s) for s, _ in in_values]}: {err}") from err
        out_specs = keras.tree.flatten(op.compute_output_spec(*args, **kwargs))
        in_shapes = [_no_batch(s) for s, _ in in_values]
        out_shapes = [_no_batch(s) for s in out_specs]
        in_fields = [f for _, f in in_values]

        rule = find_rule(op)
        weights = list(op.weights) if isinstance(op, keras.layers.Layer) else []
        if rule is None:
            if not isinstance(op, keras.layers.Layer) and type(op).__name__ in FREE_OPS:
                macs, fld = 0, _merge(in_fields)
            elif weights:
                raise ValueError(
                    f"analyze: no cost rule for layer {prefix}{op.name!r} of type {type(op).__name__} "
                    f"({sum(math.prod(w.shape) for w in weights):,} parameters); add one with "
                    "zoo.cost.register_rule(...)")
            else:
                raise ValueError(
                    f"analyze: no cost rule for {prefix}{op.name!r} of type {type(op).__name__} "
                    "(weightless, but not known to be free); add one with zoo.cost.register_rule(...)")
        else:
            macs = int(rule.macs(op, in_shapes, out_shapes))
            fld = rule.field(op, in_fields, in_shapes, self.input_size)

        new = [w for w in weights if id(w) not in self.seen_weights]
        self.seen_weights.update(id(w) for w in new)
        params = sum(math.prod(w.shape) for w in new)
        trainable = sum(math.prod(w.shape) for w in new if w.trainable)
        self.rows.append(self._row(prefix + op.name, type(op).__name__, in_shapes, out_specs,
                                   params, trainable, macs, fld))
        return [(s, fld) for s in out_specs]

    @staticmethod
    def _row(name, type_name, in_shapes, out_specs, params, trainable, macs, fld) -> LayerCost:
        out_shape = _no_batch(out_specs[0]) if out_specs else ()
        return LayerCost(name, type_name, list(in_shapes), out_shape, int(params), int(trainable), macs,
                         tuple(_number(x) for x in fld.size), tuple(_number(x) for x in fld.jump),
                         sum(math.prod(_no_batch(s)) for s in out_specs))


def _merge(fields):
    return merged_field(None, fields, None, None)


def _no_batch(spec) -> tuple[int, ...]:
    shape = spec.shape if hasattr(spec, "shape") else spec
    return tuple(int(s) for s in shape[1:])


def _spatial(shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) < 2:
        return ()
    return shape[:-1] if keras.config.image_data_format() == "channels_last" else shape[1:]


def analyze(model, input_shape=None) -> CostReport:
    """Parameters, MACs and receptive field of every layer call of ``model``, for ONE example.

    Args:
        model: a built functional or Sequential ``keras.Model`` (nested models are walked).
        input_shape: the example's shape without the batch axis, e.g. ``(224, 224, 3)``
            (a list of shapes for a multi-input model); default: the model's own input
            shape, which must then be fully known.

    Returns:
        a ``CostReport``: ``.rows`` (one ``LayerCost`` per call), ``.params`` (==
        ``model.count_params()``), ``.trainable_params``, ``.non_trainable_params``,
        ``.macs``, ``.flops`` (= 2 × MACs), ``.receptive_field`` (per spatial axis, at the
        output), ``.to_dict()`` and ``.format_table()``.

    Raises:
        TypeError: ``model`` is not a Keras model.
        ValueError: the model is not built, has no layer graph, an input shape is unknown
            or invalid, or a layer has no cost rule.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"analyze: expected a keras.Model, got {type(model).__name__}")
    if not model.built:
        raise ValueError(f"analyze: model {model.name!r} is not built; call it on data, "
                         "model.build(input_shape), or create it from keras.Input")
    walk = _Walk(())
    graph = walk.graph_of(model)
    shapes = _input_shapes(model, graph, input_shape)
    walk.input_size = _spatial(shapes[0])
    inputs = [(keras.KerasTensor((1, *s), dtype=t.dtype), Field.unit(len(_spatial(s))))
              for s, t in zip(shapes, graph.inputs)]
    try:
        outputs = walk.run(graph, inputs, "", with_input_rows=True)
    except ValueError:
        raise  # ours or Keras', already naming the layer
    except Exception as err:  # a shape that the graph cannot take, e.g. too small to downsample
        raise ValueError(f"analyze: model {model.name!r} cannot run on input_shape "
                         f"{shapes if len(shapes) > 1 else shapes[0]}: {err}") from err
    report = CostReport(model.name, shapes[0] if len(shapes) == 1 else shapes, walk.rows)
    fields = [f for _, f in outputs]
    merged = _merge(fields)
    report.receptive_field = tuple(_number(x) for x in merged.size)
    if report.params != model.count_params():
        raise RuntimeError(f"analyze: counted {report.params:,} parameters in {model.name!r}'s graph but "
                           f"model.count_params() is {model.count_params():,}; some weights are outside "
                           "the layer graph")
    return report


def _input_shapes(model, graph, input_shape) -> list[tuple[int, ...]]:
    own = [tuple(t.shape[1:]) for t in graph.inputs]
    if input_shape is None:
        for s in own:
            if any(d is None for d in s):
                raise ValueError(f"analyze: model {model.name!r} has input shape {s} with unknown sizes; "
                                 "pass input_shape=, e.g. (224, 224, 3)")
        return own
    given = [input_shape] if len(own) == 1 else input_shape
    if (not isinstance(given, (list, tuple)) or len(given) != len(own)
            or not all(isinstance(s, (list, tuple)) and len(s) == len(o)
                       and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in s)
                       for s, o in zip(given, own))):
        raise ValueError(f"analyze: invalid input_shape={input_shape!r}; allowed: positive integers "
                         f"without the batch axis, matching the model's input {own[0] if len(own) == 1 else own}")
    return [tuple(int(d) for d in s) for s in given]
