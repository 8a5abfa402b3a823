"""Channel pruning: choose channels, keep the graph consistent, rebuild a smaller model.

    >>> plan = plan_pruning(model, dead_on=images)              # exactly-dead channels only
    >>> plan = plan_pruning(model, criterion="bn_gamma", ratio=0.25)
    >>> pruned = apply_pruning(plan)                             # a new keras.Model, weights copied
    >>> plan.predicted_params_saved, plan.predicted_macs_saved   # what zoo.cost.analyze will show

Channels are removed by class (``zoo.analysis.graph``): a residual stream's channel goes
from every tensor at once. After the choice, constraints may put channels back (never
take more away): a grouped conv keeps the same number of channels in every remaining
group (or drops a group whole), a ChannelShuffle keeps the same columns in every group, a
ShortcutA keeps its zero padding split evenly, and no tensor loses all its channels.

Criteria (per producing layer, the lowest ``ratio`` of its output channels):
``bn_gamma`` = |gamma| of the BatchNorm right after it (Liu et al. 2017, "Network
Slimming", https://arxiv.org/abs/1708.06519); ``l1`` = L1 norm of the filter (Li et al.
2016, "Pruning Filters for Efficient ConvNets", https://arxiv.org/abs/1608.08710).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np

from zoo.analysis.graph import ChannelGraph, _inputs, build_channel_graph
from zoo.layers import ShortcutA
from zoo.layers import ChannelSlice
from zoo.common import invalid
from zoo.layers import ChannelShuffle

CRITERIA = ("bn_gamma", "l1")
DEAD_ATOL = 1e-7  # |activation| at or below this on every sample counts as exactly zero


@dataclass
class LayerSaving:
    """One weighted layer: its cost before and the predicted cost after pruning."""

    name: str
    type: str
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int


@dataclass
class PrunePlan:
    graph: ChannelGraph
    removed: set[int]
    notes: list[str] = field(default_factory=list)
    savings: list[LayerSaving] = field(default_factory=list)

    @property
    def model(self):
        return self.graph.model

    @property
    def predicted_params_saved(self) -> int:
        return sum(s.params_before - s.params_after for s in self.savings)

    @property
    def predicted_macs_saved(self) -> int:
        return sum(s.macs_before - s.macs_after for s in self.savings)

    def removed_channels(self, layer_name: str) -> list[int]:
        """Output positions of ``layer_name`` that the plan removes."""
        out = self.graph.output_of(layer_name)
        return [i for i, r in enumerate(self.graph.classes_of(out)) if r in self.removed]

    def summary(self) -> str:
        lines = [f"prune plan for {self.model.name!r}: {len(self.removed)} channel classes removed; "
                 f"params -{self.predicted_params_saved:,}, MACs -{self.predicted_macs_saved:,}"]
        for s in self.savings:
            if s.params_after != s.params_before or s.macs_after != s.macs_before:
                lines.append(f"  {s.name:40s} {s.type:22s} params {s.params_before:>10,} -> {s.params_after:>10,}"
                             f"  MACs {s.macs_before:>13,} -> {s.macs_after:>13,}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --- choosing ----------------------------------------------------------------------------------


def exit_max_abs(graph: ChannelGraph, images, batch_size: int = 32) -> dict[int, np.ndarray]:
    """max |value| per channel over ``images`` for every exit tensor (id(tensor) -> vector)."""
    tensors = {id(t): t for lst in graph.exits.values() for t, _ in lst}
    order = list(tensors.values())
    if not order:
        return {}
    probe = keras.Model(_inputs(graph.model), order)
    images = np.asarray(images)
    result = [None] * len(order)
    for start in range(0, len(images), batch_size):
        outs = probe(images[start:start + batch_size], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for i, o in enumerate(outs):
            o = np.abs(keras.ops.convert_to_numpy(o)).reshape(-1, o.shape[-1]).max(axis=0)
            result[i] = o if result[i] is None else np.maximum(result[i], o)
    return {id(t): r for t, r in zip(order, result)}


def exactly_dead_classes(graph: ChannelGraph, images, atol: float = DEAD_ATOL) -> set[int]:
    """Classes that are zero (|x| <= atol) on every sample at every exit: removing them is exact."""
    stats = exit_max_abs(graph, images)
    dead = set()
    for root, exits in graph.exits.items():
        if root in graph.pinned or not exits:
            continue
        if all(stats[id(t)][pos] <= atol for t, pos in exits):
            dead.add(root)
    return dead


def _following_bn(model, layer_name):
    out = model.get_layer(layer_name)._inbound_nodes[0].outputs[0]
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer._inbound_nodes:
            if layer._inbound_nodes[0].input_tensors[0] is out:
                return layer
    return None


def channel_scores(model, layer_name: str, criterion: str) -> np.ndarray:
    """Importance of each output channel of a producing layer under ``criterion``."""
    layer = model.get_layer(layer_name)
    if criterion == "bn_gamma":
        bn = _following_bn(model, layer_name)
        if bn is not None and bn.scale:
            return np.abs(keras.ops.convert_to_numpy(bn.gamma))
        criterion = "l1"  # no BN after it: fall back to the filter norm
    kernel = keras.ops.convert_to_numpy(
        layer.pointwise_kernel if isinstance(layer, keras.layers.SeparableConv2D) else layer.kernel)
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)


def plan_pruning(model, *, dead_on=None, atol: float = DEAD_ATOL, criterion: str | None = None,
                 ratio: float | None = None, remove: dict[str, list[int]] | None = None) -> PrunePlan:
    """Choose the channels to remove (one or more of the three ways) and fix up the graph.

    Args:
        dead_on: images (N, H, W, C): remove the classes that are exactly zero wherever a
            channel-mixing layer reads them (outputs stay equal).
        criterion, ratio: remove the ``ratio`` least important output channels of every
            producing layer (``"bn_gamma"`` or ``"l1"``); a channel tied to others across an
            Add goes only when every layer producing it chose it.
        remove: explicit ``{layer_name: [output channel indices]}``.
    """
    if dead_on is None and criterion is None and not remove:
        raise ValueError("prune: nothing to remove; give dead_on=images, criterion= and ratio=, or remove=")
    if criterion is not None:
        if criterion not in CRITERIA:
            raise invalid("prune", "criterion", criterion, f"one of {list(CRITERIA)}")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
            raise invalid("prune", "ratio", ratio, "a number in (0, 1) with criterion=")
    graph = build_channel_graph(model)
    plan = PrunePlan(graph, set())
    if remove:
        for name, indices in remove.items():
            try:
                out = graph.output_of(name)
            except ValueError as err:
                raise ValueError(f"prune: remove= names unknown layer {name!r}") from err
            classes = graph.classes_of(out)
            for i in indices:
                if not isinstance(i, (int, np.integer)) or not 0 <= i < len(classes):
                    raise invalid("prune", f"remove[{name!r}]", i, f"channel indices in [0, {len(classes)})")
                root = classes[i]
                if root in graph.pinned:
                    raise ValueError(f"prune: cannot remove channel {i} of {name!r}: {graph.pinned[root]}")
                plan.removed.add(root)
    if dead_on is not None:
        plan.removed |= exactly_dead_classes(graph, dead_on, atol)
    if criterion is not None:
        chosen: dict[int, set] = {}
        for layer in model.layers:
            if not _is_producer(layer):
                continue
            scores = channel_scores(model, layer.name, criterion)
            count = int(len(scores) * ratio)
            for i in np.argsort(scores, kind="stable")[:count]:
                chosen.setdefault(graph.classes_of(graph.output_of(layer.name))[i], set()).add((layer.name, int(i)))
        pinned = {}
        for root, picks in chosen.items():
            if root in graph.pinned:
                pinned[graph.pinned[root]] = pinned.get(graph.pinned[root], 0) + 1
                continue
            if set(graph.producers.get(root, [])) <= picks:
                plan.removed.add(root)
        plan.notes += [f"{n} chosen channel classes kept because {why}" for why, n in sorted(pinned.items())]
    _fix_up(plan)
    plan.savings = _predict(plan)
    return plan


def _is_producer(layer) -> bool:
    return (isinstance(layer, (keras.layers.Conv2D, keras.layers.SeparableConv2D))
            and not isinstance(layer, keras.layers.DepthwiseConv2D))


# --- keeping the graph consistent -------------------------------------------------------------


def _fix_up(plan: PrunePlan) -> None:
    """Put channels back until every layer can be rebuilt; only ever keeps more."""
    graph, removed = plan.graph, plan.removed
    restored: set[int] = set()

    def restore(root):
        removed.discard(root)
        restored.add(root)

    changed = True
    while changed:
        changed = False
        for node in graph.nodes:
            layer = node.operation
            ins = graph.classes_of(node.input_tensors[0])
            outs = graph.classes_of(node.outputs[0]) if id(node.outputs[0]) in graph.slots else []
            if isinstance(layer, keras.layers.Conv2D) and getattr(layer, "groups", 1) > 1:
                changed |= _balance_groups(layer.groups, ins, outs, removed, restore)
            elif isinstance(layer, ChannelShuffle):
                g, c = layer.groups, len(ins)
                for col in range(c // g):
                    column = [ins[k * (c // g) + col] for k in range(g)]
                    if any(r not in removed for r in column) and any(r in removed for r in column):
                        for r in column:
                            if r in removed:
                                restore(r)
                        changed = True
            elif isinstance(layer, ShortcutA):
                pad = layer.filters - len(ins)
                before, after = outs[:pad // 2], outs[len(outs) - (pad - pad // 2):]
                b = sum(r not in removed for r in before)
                a = sum(r not in removed for r in after)
                if b != (a + b) // 2:
                    side = before if b < (a + b) // 2 else after
                    restore(next(r for r in side if r in removed))
                    changed = True
        for slot in graph.slots.values():
            roots = [graph.root(n) for n in slot]
            if roots and all(r in removed for r in roots):
                restore(roots[0])
                changed = True
    if restored:
        plan.notes.append(f"{len(restored)} chosen channel classes kept to keep groups, shuffles and "
                          "shortcuts consistent")


def _balance_groups(groups, ins, outs, removed, restore) -> bool:
    """Same kept count in every kept group, on both sides; a group goes only when empty on both."""
    gi, go = len(ins) // groups, len(outs) // groups
    sides = [[ins[g * gi:(g + 1) * gi] for g in range(groups)], [outs[g * go:(g + 1) * go] for g in range(groups)]]
    kept = [[sum(r not in removed for r in part) for part in side] for side in sides]
    alive = [g for g in range(groups) if kept[0][g] or kept[1][g]]
    changed = False
    for side, counts in zip(sides, kept):
        target = max(1, max(counts[g] for g in alive)) if alive else 0
        for g in alive:
            missing = target - counts[g]
            for r in [r for r in side[g] if r in removed][:missing]:
                restore(r)
                changed = True
    return changed


# --- predicting and rebuilding ----------------------------------------------------------------


def _kept_groups(layer, kept_out, n_out):
    """(the layer's group count, the groups that keep output channels: their number is the new count)."""
    groups = getattr(layer, "groups", 1)
    go = n_out // groups
    return groups, sorted({o // go for o in kept_out})


def _sliced_weights(plan: PrunePlan, node) -> list[np.ndarray]:
    layer = node.operation
    graph = plan.graph
    tin, tout = node.input_tensors[0], node.outputs[0]
    n_in, n_out = len(graph.slots[id(tin)]), len(graph.slots[id(tout)])
    kin, kout = graph.kept_positions(tin, plan.removed), graph.kept_positions(tout, plan.removed)
    w = [keras.ops.convert_to_numpy(v) for v in layer.weights]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        m = layer.depth_multiplier
        return [w[0][:, :, kin, :]] + ([w[1].reshape(n_in, m)[kin].reshape(-1)] if len(w) > 1 else [])
    if isinstance(layer, keras.layers.SeparableConv2D):
        m = layer.depth_multiplier
        mid = [c * m + k for c in kin for k in range(m)]
        out = [w[0][:, :, kin, :], w[1][:, :, mid, :][..., kout]]
        return out + ([w[2][kout]] if len(w) > 2 else [])
    if isinstance(layer, keras.layers.Conv2D):
        groups = getattr(layer, "groups", 1)
        gi, go = n_in // groups, n_out // groups
        columns = []
        for o in kout:
            g = o // go
            local = [i - g * gi for i in kin if i // gi == g]
            columns.append(w[0][:, :, local, o])
        kernel = np.stack(columns, axis=-1)
        return [kernel] + ([w[1][kout]] if len(w) > 1 else [])
    if isinstance(layer, keras.layers.Dense):
        return [w[0][kin][:, kout]] + ([w[1][kout]] if len(w) > 1 else [])
    if isinstance(layer, keras.layers.BatchNormalization):
        return [v[kin] for v in w]
    if w:
        raise ValueError(f"prune: cannot slice the weights of layer {layer.name!r} ({type(layer).__name__})")
    return []


def _predict(plan: PrunePlan) -> list[LayerSaving]:
    from zoo.cost import analyze

    rows = {r.name: r for r in analyze(plan.model).rows}
    graph = plan.graph
    savings = []
    for node in graph.nodes:
        layer = node.operation
        if not layer.weights:
            continue
        row = rows[layer.name]
        after = _sliced_weights(plan, node)
        params_after = sum(int(np.prod(a.shape)) for a in after)
        tin, tout = node.input_tensors[0], node.outputs[0]
        n_in, n_out = len(graph.slots[id(tin)]), len(graph.slots[id(tout)])
        kin = len(graph.kept_positions(tin, plan.removed))
        kout = len(graph.kept_positions(tout, plan.removed))
        macs = row.macs
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            macs_after = macs // n_out * (kin * layer.depth_multiplier)
        elif isinstance(layer, keras.layers.SeparableConv2D):
            k2 = int(np.prod(layer.kernel_size))
            macs_after = macs // (n_in * (k2 + n_out)) * kin * (k2 + kout)
        elif isinstance(layer, keras.layers.Conv2D):
            groups, kept = _kept_groups(layer, graph.kept_positions(tout, plan.removed), n_out)
            macs_after = macs // (n_out * (n_in // groups)) * kout * (kin // max(1, len(kept)))
        elif isinstance(layer, keras.layers.Dense):
            macs_after = macs // (n_in * n_out) * kin * kout
        else:
            macs_after = macs // max(1, n_in) * kin  # BatchNorm: 0 MACs either way
        savings.append(LayerSaving(layer.name, type(layer).__name__, row.params, params_after, macs, macs_after))
    return savings


def apply_pruning(plan: PrunePlan) -> keras.Model:
    """Rebuild the model from its edited functional config and copy the kept weights in."""
    model, graph = plan.model, plan.graph
    seen = set()
    for node in graph.nodes:
        if node.operation.name in seen:
            raise ValueError(f"prune: layer {node.operation.name!r} is called more than once; not supported")
        seen.add(node.operation.name)
    config = model.get_config()
    by_name = {entry["config"]["name"]: entry for entry in config["layers"]}
    for entry in config["layers"]:
        entry.pop("build_config", None)  # the old input shapes; layers build again from the new ones
    new_weights = {}
    for node in graph.nodes:
        layer = node.operation
        cfg = by_name[layer.name]["config"]
        tin, tout = node.input_tensors[0], node.outputs[0]
        if id(tout) in graph.slots:
            kout = graph.kept_positions(tout, plan.removed)
        # A depthwise conv's width follows its input (config unchanged; weights sliced below).
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.SeparableConv2D)):
            cfg["filters"] = len(kout)
            if getattr(layer, "groups", 1) > 1:
                _, kept = _kept_groups(layer, kout, len(graph.slots[id(tout)]))
                cfg["groups"] = len(kept)
        elif isinstance(layer, keras.layers.Dense):
            cfg["units"] = len(kout)
        elif isinstance(layer, ChannelSlice):
            classes = graph.classes_of(tin)
            start = sum(r not in plan.removed for r in classes[:layer.start])
            cfg["start"], cfg["stop"] = start, start + len(kout)
        elif isinstance(layer, ShortcutA):
            cfg["filters"] = len(kout)
        if layer.weights:
            new_weights[layer.name] = _sliced_weights(plan, node)
    pruned = keras.Model.from_config(config)
    for name, weights in new_weights.items():
        pruned.get_layer(name).set_weights(weights)
    return pruned


def prune(model, **kwargs) -> tuple[keras.Model, PrunePlan]:
    """``plan_pruning`` then ``apply_pruning``: the pruned model and the plan behind it."""
    plan = plan_pruning(model, **kwargs)
    return apply_pruning(plan), plan
