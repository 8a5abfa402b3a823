"""Inference path: fold each BatchNormalization into the convolution before it.

At inference a BatchNormalization is an affine map per channel, ``y = s * x + t`` with
``s = gamma / sqrt(var + eps)`` and ``t = beta - s * mean``; after a linear conv it folds
into the conv's kernel (``W * s`` per output channel) and bias (``s * b + t``). The folded
model computes the same function in inference mode with one op fewer per block, and the
activation then follows the conv directly, which TF's Grappler/oneDNN fuse into one
conv+bias+relu kernel in graph mode.

The model is rebuilt from its functional config (the pattern of ``zoo.analysis.prune``):
BN layers leave the config, their consumers read the conv's output instead, the conv gets
``use_bias=True``; every other layer keeps its weights.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

FOLDABLE = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
"""Layers a following BatchNormalization folds into (Conv2D includes GroupedConv2D)."""


def _history_refs(obj: Any, out: list) -> list:
    """Every ``keras_history`` triple in a functional config, in place (for rewiring)."""
    if isinstance(obj, dict):
        if "keras_history" in obj:
            out.append(obj["keras_history"])
        for value in obj.values():
            _history_refs(value, out)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _history_refs(value, out)
    return out


def _foldable_pairs(model, config) -> dict[str, str]:
    """BN name -> conv name for each BN whose only input is a linear conv used by that BN alone."""
    consumers: dict[str, int] = {}
    for entry in config["layers"]:
        for ref in _history_refs(entry.get("inbound_nodes", []), []):
            consumers[ref[0]] = consumers.get(ref[0], 0) + 1
    for ref in _history_refs(config.get("output_layers", []), []):
        consumers[ref[0]] = consumers.get(ref[0], 0) + 1
    pairs = {}
    for entry in config["layers"]:
        layer = model.get_layer(entry["config"]["name"])
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        refs = _history_refs(entry.get("inbound_nodes", []), [])
        if len(refs) != 1 or len(entry["inbound_nodes"]) != 1:
            continue  # shared or multi-input: leave it
        producer = model.get_layer(refs[0][0])
        rank = len(layer.input.shape) if hasattr(layer, "input") else 4
        channel_last = layer.axis in (-1, rank - 1)
        conv_channel_last = getattr(producer, "data_format", "channels_last") == "channels_last"
        if (isinstance(producer, FOLDABLE) and consumers.get(producer.name) == 1
                and producer.activation in (keras.activations.linear, None)
                and channel_last == conv_channel_last and (channel_last or layer.axis == 1)):
            pairs[layer.name] = producer.name
    return pairs


def _bn_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """The per-channel scale and shift a BatchNormalization applies in inference mode."""
    mean = np.asarray(bn.moving_mean.numpy(), np.float64)
    var = np.asarray(bn.moving_variance.numpy(), np.float64)
    gamma = np.asarray(bn.gamma.numpy(), np.float64) if bn.scale else np.ones_like(mean)
    beta = np.asarray(bn.beta.numpy(), np.float64) if bn.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + bn.epsilon)
    return scale, beta - scale * mean


def _folded_weights(conv, bn) -> list[np.ndarray]:
    """The conv's [kernel(s)..., bias] with ``bn`` folded in (float64 math, stored float32)."""
    scale, shift = _bn_affine(bn)
    weights = [np.asarray(w, np.float64) for w in conv.get_weights()]
    bias = weights.pop() if conv.use_bias else np.zeros_like(scale)
    if isinstance(conv, keras.layers.SeparableConv2D):
        depthwise, pointwise = weights  # scale the pointwise kernel's output channels
        kernels = [depthwise, pointwise * scale]
    elif isinstance(conv, keras.layers.DepthwiseConv2D):
        (kernel,) = weights  # (kh, kw, in, multiplier): output channel = in * multiplier + m
        kernels = [kernel * scale.reshape(kernel.shape[2], kernel.shape[3])]
    else:
        (kernel,) = weights  # (kh, kw, in/groups, filters)
        kernels = [kernel * scale]
    return [w.astype(np.float32) for w in (*kernels, bias * scale + shift)]


def fold_batchnorm(model) -> keras.Model:
    """A new functional model with every foldable BatchNormalization folded into its conv.

    Foldable: the BN's input is a Conv2D/GroupedConv2D, DepthwiseConv2D or SeparableConv2D
    with a linear activation whose output nothing else reads, and the BN normalizes the
    channel axis. Other BNs stay (a model without BN comes back as an equal copy).
    Predictions equal the original's in inference mode up to float32 rounding.

    Raises:
        TypeError: ``model`` is not a functional ``keras.Model`` (Sequential works too).
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"fold_batchnorm: expected a keras.Model, got {type(model).__name__}")
    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    try:
        config = model.get_config()
    except NotImplementedError as err:
        raise TypeError("fold_batchnorm: needs a functional or Sequential model (its config rebuilds "
                        f"the graph); got a subclassed {type(model).__name__}") from err
    if "layers" not in config:
        raise TypeError(f"fold_batchnorm: {type(model).__name__} has no functional config")
    pairs = _foldable_pairs(model, config)
    config["layers"] = [entry for entry in config["layers"] if entry["config"]["name"] not in pairs]
    for ref in _history_refs(config, []):
        if ref[0] in pairs:
            ref[0] = pairs[ref[0]]  # each layer is called once in the zoo: node/tensor index stay
    conv_to_bn = {conv: bn for bn, conv in pairs.items()}
    for entry in config["layers"]:
        if entry["config"]["name"] in conv_to_bn:
            entry["config"]["use_bias"] = True
    folded = keras.Model.from_config(config)
    for layer in folded.layers:
        if not layer.weights:
            continue
        original = model.get_layer(layer.name)
        if layer.name in conv_to_bn:
            layer.set_weights(_folded_weights(original, model.get_layer(conv_to_bn[layer.name])))
        else:
            layer.set_weights(original.get_weights())
    return folded


def count_batchnorm(model) -> int:
    """BatchNormalization layers left in ``model`` (0 after a full fold)."""
    return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
