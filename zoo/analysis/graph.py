"""Channel equivalence classes of a functional model: which channels must be pruned together.

Every channel of every tensor in the graph belongs to one class (a union-find set).
Producers (Conv2D, GroupedConv2D, SeparableConv2D, Dense, a DepthwiseConv2D's extra
multiplier outputs) make new classes; layers that act per channel (BatchNorm,
activations, pooling, depthwise with multiplier 1, dropout) pass their input's classes
through; ``Add`` unites the channels at the same position of its inputs; ``Concatenate``,
``ChannelSlice``, ``ChannelShuffle`` and ``ShortcutA`` move them (offset, slice,
permutation, zero padding). Removing a class removes that channel from every tensor.

An "exit" of a class is a tensor holding it that a channel-MIXING layer reads (a conv,
a Dense) or that is a model output: a class is exactly removable when it is zero at all
its exits (what a BN in between may not preserve: BN turns zeros into a constant).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

from zoo.layers import ShortcutA
from zoo.layers import ChannelSlice
from zoo.layers import ChannelShuffle

# Layers that act on each channel separately and keep the channel count.
PER_CHANNEL = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.LeakyReLU,
               keras.layers.ELU, keras.layers.PReLU, keras.layers.Dropout, keras.layers.SpatialDropout2D,
               keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D,
               keras.layers.GlobalMaxPooling2D, keras.layers.ZeroPadding2D, keras.layers.Identity,
               keras.layers.GaussianNoise, keras.layers.GaussianDropout)
CHANNEL_MIXING_ACTIVATIONS = ("softmax", "log_softmax")
PRODUCERS = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.Dense)


def is_per_channel(layer) -> bool:
    if isinstance(layer, keras.layers.Activation):
        name = getattr(layer.activation, "__name__", str(layer.activation))
        return name not in CHANNEL_MIXING_ACTIVATIONS
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return layer.depth_multiplier == 1
    return isinstance(layer, PER_CHANNEL)


class UnionFind:
    def __init__(self):
        self.parent: list[int] = []

    def new(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class ChannelGraph:
    """The model's layer calls in order, each tensor's channel classes, and what pins them."""

    model: keras.Model
    uf: UnionFind
    slots: dict[int, list[int]]            # id(KerasTensor) -> class node per channel position
    nodes: list                            # Keras nodes in execution order (no input nodes)
    exits: dict[int, list[tuple]] = field(default_factory=dict)   # root -> [(tensor, position)]
    pinned: dict[int, str] = field(default_factory=dict)          # root -> why it cannot go
    producers: dict[int, list[tuple[str, int]]] = field(default_factory=dict)  # root -> [(layer, channel)]
    zero_nodes: set[int] = field(default_factory=set)             # ShortcutA padding (always zero)

    def root(self, node: int) -> int:
        return self.uf.find(node)

    def classes_of(self, tensor) -> list[int]:
        return [self.uf.find(n) for n in self.slots[id(tensor)]]

    def kept_positions(self, tensor, removed: set[int]) -> list[int]:
        return [i for i, r in enumerate(self.classes_of(tensor)) if r not in removed]

    def output_of(self, layer_name: str):
        """The output tensor of a layer's (only) call."""
        layer = self.model.get_layer(layer_name)
        return layer._inbound_nodes[0].outputs[0]


def _channel_count(tensor, owner) -> int:
    c = tensor.shape[-1]
    if c is None:
        raise ValueError(f"prune: the channel dimension of {owner!r}'s tensor is unknown ({tensor.shape})")
    return int(c)


def build_channel_graph(model) -> ChannelGraph:
    """Propagate channel classes through ``model``; raises for graphs that cannot be walked."""
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        raise TypeError(f"prune: expects a functional keras.Model, got {type(model).__name__}")
    if keras.config.image_data_format() != "channels_last":
        raise ValueError("prune: only channels_last models are supported (keras.config.image_data_format())")
    uf = UnionFind()
    slots: dict[int, list[int]] = {}
    graph = ChannelGraph(model, uf, slots, [])
    pin_reason: dict[int, str] = {}  # node -> reason (resolved to roots at the end)

    def fresh(tensor, owner):
        slots[id(tensor)] = [uf.new() for _ in range(_channel_count(tensor, owner))]
        return slots[id(tensor)]

    for t in model.inputs:
        for n in fresh(t, "input"):
            pin_reason[n] = "a model input channel"

    order = [node for depth in sorted(model._nodes_by_depth, reverse=True)
             for node in model._nodes_by_depth[depth] if not node.is_input and node.operation]
    for node in order:
        layer = node.operation
        if isinstance(layer, keras.Model):
            raise ValueError(f"prune: nested model {layer.name!r} is not supported; flatten the model first")
        graph.nodes.append(node)
        ins = node.input_tensors
        out = node.outputs[0]
        if len(node.outputs) != 1:
            raise ValueError(f"prune: layer {layer.name!r} has {len(node.outputs)} outputs; not supported")
        in_slots = [slots[id(t)] for t in ins]
        if isinstance(layer, PRODUCERS) and not (isinstance(layer, keras.layers.DepthwiseConv2D)):
            for pos, n in enumerate(in_slots[0]):
                graph.exits.setdefault(n, []).append((ins[0], pos))
            nodes = fresh(out, layer.name)
            for i, n in enumerate(nodes):
                graph.producers.setdefault(n, []).append((layer.name, i))
            if getattr(getattr(layer, "activation", None), "__name__", "") in CHANNEL_MIXING_ACTIVATIONS:
                for n in nodes:  # a softmax over the channels: one fewer changes all the others
                    pin_reason[n] = f"layer {layer.name!r} applies a softmax across its channels"
        elif is_per_channel(layer):
            slots[id(out)] = list(in_slots[0])
        elif isinstance(layer, keras.layers.DepthwiseConv2D):  # multiplier m > 1: out c*m+k ties to input c
            m = layer.depth_multiplier
            nodes = fresh(out, layer.name)
            for i, n in enumerate(nodes):
                uf.union(n, in_slots[0][i // m])
        elif isinstance(layer, keras.layers.Add):
            slots[id(out)] = list(in_slots[0])
            for other in in_slots[1:]:
                if len(other) != len(in_slots[0]):
                    raise ValueError(f"prune: Add {layer.name!r} broadcasts channels; not supported")
                for a, b in zip(in_slots[0], other):
                    uf.union(a, b)
        elif isinstance(layer, keras.layers.Concatenate):
            if layer.axis not in (-1, len(out.shape) - 1):
                raise ValueError(f"prune: Concatenate {layer.name!r} joins axis {layer.axis}, not channels")
            slots[id(out)] = [n for s in in_slots for n in s]
        elif isinstance(layer, ChannelSlice):
            slots[id(out)] = in_slots[0][layer.start:layer.stop]
        elif isinstance(layer, ChannelShuffle):
            g, c = layer.groups, len(in_slots[0])
            slots[id(out)] = [in_slots[0][(j % g) * (c // g) + j // g] for j in range(c)]
        elif isinstance(layer, ShortcutA):
            pad = layer.filters - len(in_slots[0])
            before = [uf.new() for _ in range(pad // 2)]
            after = [uf.new() for _ in range(pad - pad // 2)]
            graph.zero_nodes.update(before + after)
            slots[id(out)] = before + list(in_slots[0]) + after
        else:  # unknown: it may mix channels; pin everything it touches
            why = f"it passes through layer {layer.name!r} ({type(layer).__name__}), which prune cannot slice"
            for s in in_slots:
                for n in s:
                    pin_reason.setdefault(n, why)
                    graph.exits.setdefault(n, [])
            if len(out.shape) >= 2 and out.shape[-1] is not None:
                for n in fresh(out, layer.name):
                    pin_reason[n] = why
            else:
                slots[id(out)] = []
    for t in model.outputs:
        for pos, n in enumerate(slots[id(t)]):
            pin_reason.setdefault(n, "it is a model output channel")
            graph.exits.setdefault(n, []).append((t, pos))

    # resolve node-keyed tables to class roots
    exits, producers = {}, {}
    for n, lst in graph.exits.items():
        exits.setdefault(uf.find(n), []).extend(lst)
    for n, lst in graph.producers.items():
        producers.setdefault(uf.find(n), []).extend(lst)
    graph.exits, graph.producers = exits, producers
    graph.pinned = {}
    for n, why in pin_reason.items():
        graph.pinned.setdefault(uf.find(n), why)
    return graph


def _inputs(model):
    """The model's input in the structure it was built with (a bare tensor for one input)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs
