"""PyTorch checkpoints on zoo models: the torch layout, and state_dict -> zoo weights by name.

The zoo's SqueezeNet, ShuffleNetV2, MobileNetV2 and MobileNet have torchvision's / timm's
parameters exactly, but two things still change the outputs:

- Padding. torch pads a k x k stride-2 layer by k // 2 on every side; Keras "same" pads
  0 before and 1 after on an even input, so after the first stride-2 layer every pixel
  would be offset by one. ``to_torch_layout`` puts a ``ZeroPadding2D(k // 2)`` before each
  "same" layer with stride > 1 and makes it "valid". For max-pools this is exact only on
  non-negative inputs (torch pads with -inf), so the pooled tensor must come from a ReLU.
- BatchNorm epsilon: torch 1e-5, the zoo (keras.applications' value) 1e-3. With running
  variances near 1 that is a 5e-4 relative error per BN layer; ``to_torch_layout`` sets 1e-5.
  (Momentum, training-only, is left at Keras' 0.99; torch's 0.1 would be Keras' 0.9.)

Tensors map by name (``TORCH_NAMES``), never by position: Keras orders a functional model's
layers by graph depth, which interleaves ShuffleNet's two branches. Every torch tensor and
every zoo weight is used exactly once, with equal shapes after the layout change
(conv (O, I/g, kh, kw) -> (kh, kw, I/g, O); depthwise (C*m, 1, kh, kw) -> (kh, kw, C, m);
Linear (out, in) -> (in, out)), or the conversion stops with the offending names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np

TORCH_BN_EPSILON = 1e-5
PAD_SUFFIX = "_sympad"  # the inserted ZeroPadding2D layers: "<layer>_sympad"


def to_torch_layout(model):
    """A copy of ``model`` (fresh weights) that computes what the torch model computes."""
    import keras
    from keras import layers

    pads = {}

    def clone(layer):
        config = layer.get_config()
        pad = None
        if isinstance(layer, layers.BatchNormalization):
            config["epsilon"] = TORCH_BN_EPSILON
        elif getattr(layer, "padding", None) == "same" and max(getattr(layer, "strides", (1,))) > 1:
            if isinstance(layer, layers.AveragePooling2D):
                raise ValueError(f"{layer.name}: a strided 'same' average pool has no exact torch equivalent "  # noqa: TRY004
                                 "(torch counts the padded zeros)")
            kernel = getattr(layer, "kernel_size", None) or layer.pool_size
            dilation = getattr(layer, "dilation_rate", (1, 1))
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            if any(t % 2 for t in total):
                raise ValueError(f"{layer.name}: even kernel {kernel}: torch's symmetric padding differs in size")
            pad = tuple((t // 2, t // 2) for t in total)
            config["padding"] = "valid"
        new = layer.__class__.from_config(config)
        if pad is not None:
            pads[id(new)] = pad
        return new

    def call(layer, *args, **kwargs):
        if id(layer) in pads:
            x = args[0]
            if isinstance(layer, layers.MaxPooling2D) and not _from_relu(x):
                raise ValueError(f"{layer.name}: a strided 'same' max-pool on possibly negative inputs: "
                                 "zero padding would differ from torch's -inf padding")
            x = layers.ZeroPadding2D(pads[id(layer)], name=f"{layer.name}{PAD_SUFFIX}")(x)
            args = (x, *args[1:])
        return layer(*args, **kwargs)

    new = keras.models.clone_model(model, clone_function=clone, call_function=call)
    if [tuple(t.shape) for t in new.outputs] != [tuple(t.shape) for t in model.outputs]:
        raise ValueError(f"{model.name}: torch padding changed the output shape "
                         f"{[t.shape for t in model.outputs]} -> {[t.shape for t in new.outputs]}")
    return new


def is_torch_layout(model) -> bool:
    """True for a model made by ``to_torch_layout`` (or saved from one)."""
    from keras import layers

    return any(layer.name.endswith(PAD_SUFFIX) for layer in model.layers) or any(
        isinstance(layer, layers.BatchNormalization) and layer.epsilon == TORCH_BN_EPSILON for layer in model.layers)


def _from_relu(tensor) -> bool:
    from keras import layers

    history = getattr(tensor, "_keras_history", None)
    op = history[0] if history else None
    if isinstance(op, layers.ReLU):
        return op.negative_slope == 0 and (op.threshold or 0) >= 0
    return isinstance(op, layers.Activation) and getattr(op.activation, "__name__", "") in ("relu", "relu6")


# --- torch names -> zoo layer names -----------------------------------------------------
# Each rule: (regex on a torch module prefix, zoo layer name template or function of the match).


def _mobilenet_v2_units():
    from zoo.models.mobilenet_v2 import BOTTLENECKS

    return [f"stage{s}_unit{i}" for s, (_, _, n, _) in enumerate(BOTTLENECKS, start=1) for i in range(n)]


def _mobilenet_v2_rules():
    units = _mobilenet_v2_units()
    n = len(units)

    def block(m):
        k, rest = int(m[1]), m[2]
        if not 1 <= k <= n:
            return None
        unit = units[k - 1]
        # features.1 (t=1) has no expansion: conv.0 = depthwise (conv + bn), conv.1 = project, conv.2 = its BN.
        names = ({"conv.0.0": "dw_dw", "conv.0.1": "dw_bn", "conv.1": "project_conv", "conv.2": "project_bn"}
                 if k == 1 else
                 {"conv.0.0": "expand_conv", "conv.0.1": "expand_bn", "conv.1.0": "dw_dw", "conv.1.1": "dw_bn",
                  "conv.2": "project_conv", "conv.3": "project_bn"})
        return f"{unit}_{names[rest]}" if rest in names else None

    return (
        (r"features\.0\.0", "stem_conv"), (r"features\.0\.1", "stem_bn"),
        (rf"features\.{n + 1}\.0", "last_conv"), (rf"features\.{n + 1}\.1", "last_bn"),
        (r"features\.(\d+)\.(conv\.[\d.]+)", block),
        (r"classifier\.1", "head_predictions"),
    )


def _squeezenet_rules(prefixes):
    # Fire modules are features.<i> for the indices that hold a squeeze conv, numbered from 2.
    fires = sorted({int(m[1]) for p in prefixes if (m := re.fullmatch(r"features\.(\d+)\.squeeze", p))})
    number = {i: n for n, i in enumerate(fires, start=2)}

    def fire(m):
        return f"fire{number[int(m[1])]}_{m[2]}" if int(m[1]) in number else None

    return ((r"features\.0", "conv1"), (r"features\.(\d+)\.(squeeze|expand1x1|expand3x3)", fire),
            (r"classifier\.1", "conv10"))


_SHUFFLENET_V2_RULES = (
    (r"conv1\.0", "stem_conv"), (r"conv1\.1", "stem_bn"),
    (r"stage(\d)\.(\d+)\.branch1\.0", r"stage\1_unit\2_branch1_dw_dw"),
    (r"stage(\d)\.(\d+)\.branch1\.1", r"stage\1_unit\2_branch1_dw_bn"),
    (r"stage(\d)\.(\d+)\.branch1\.2", r"stage\1_unit\2_branch1_pw_conv"),
    (r"stage(\d)\.(\d+)\.branch1\.3", r"stage\1_unit\2_branch1_pw_bn"),
    (r"stage(\d)\.(\d+)\.branch2\.0", r"stage\1_unit\2_branch2_pw1_conv"),
    (r"stage(\d)\.(\d+)\.branch2\.1", r"stage\1_unit\2_branch2_pw1_bn"),
    (r"stage(\d)\.(\d+)\.branch2\.3", r"stage\1_unit\2_branch2_dw_dw"),
    (r"stage(\d)\.(\d+)\.branch2\.4", r"stage\1_unit\2_branch2_dw_bn"),
    (r"stage(\d)\.(\d+)\.branch2\.5", r"stage\1_unit\2_branch2_pw2_conv"),
    (r"stage(\d)\.(\d+)\.branch2\.6", r"stage\1_unit\2_branch2_pw2_bn"),
    (r"conv5\.0", "conv5_conv"), (r"conv5\.1", "conv5_bn"),
    (r"fc", "head_predictions"),
)

_TIMM_MOBILENET_V1_RULES = (
    (r"conv_stem", "stem_conv"), (r"bn1", "stem_bn"),
    # timm's blocks.<s> is the zoo's stage<s+1> (zoo.models.mobilenet.BODY, numbered from 1).
    (r"blocks\.(\d)\.(\d+)\.(conv_dw|bn1|conv_pw|bn2)",
     lambda m: f"stage{int(m[1]) + 1}_unit{m[2]}_"
               + {"conv_dw": "dw_dw", "bn1": "dw_bn", "conv_pw": "pw_conv", "bn2": "pw_bn"}[m[3]]),
    (r"classifier", "head_predictions"),
)

TORCH_NAMES: Mapping[str, Callable] = {
    # torch_arch -> function(prefixes) -> rules
    "squeezenet1_0": _squeezenet_rules,
    "squeezenet1_1": _squeezenet_rules,
    **{f"shufflenet_v2_{w}": (lambda prefixes: _SHUFFLENET_V2_RULES) for w in ("x0_5", "x1_0", "x1_5", "x2_0")},
    "mobilenet_v2": lambda prefixes: _mobilenet_v2_rules(),
    "mobilenetv1_100": lambda prefixes: _TIMM_MOBILENET_V1_RULES,
}


def zoo_layer_names(torch_arch: str, prefixes) -> dict[str, str]:
    """torch module prefix -> zoo layer name; a prefix no rule names raises."""
    if torch_arch not in TORCH_NAMES:
        raise ValueError(f"no name map for torch architecture {torch_arch!r}; known: {sorted(TORCH_NAMES)}")
    rules = TORCH_NAMES[torch_arch](prefixes)
    out, unknown = {}, []
    for prefix in prefixes:
        for pattern, target in rules:
            m = re.fullmatch(pattern, prefix)
            if m:
                name = target(m) if callable(target) else m.expand(target)
                if name:
                    out[prefix] = name
                    break
        else:
            unknown.append(prefix)
    if unknown:
        raise ValueError(f"{torch_arch}: checkpoint modules with no zoo layer: {unknown[:8]}"
                         f"{' ...' if len(unknown) > 8 else ''} (is it a {torch_arch} checkpoint?)")
    return out


def assign_state_dict(model, state: Mapping[str, np.ndarray], torch_arch: str) -> int:
    """Set ``model``'s weights from a torch state_dict (numpy arrays); returns the tensors used."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        prefix, _, param = key.rpartition(".")
        if param == "num_batches_tracked":
            continue
        groups.setdefault(prefix, {})[param] = np.asarray(value)
    names = zoo_layer_names(torch_arch, list(groups))
    by_name = {layer.name: layer for layer in model.layers}
    weighted = {layer.name for layer in model.layers if layer.weights}
    twice = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    missing_in_model = sorted(set(names.values()) - weighted)
    unassigned = sorted(weighted - set(names.values()))
    if twice or missing_in_model or unassigned:
        raise ValueError(f"{torch_arch} -> {model.name}: the checkpoint does not fit this zoo configuration: "
                         + "; ".join(f"{what}: {items[:6]}" for what, items in (
                             ("zoo layers named twice", twice), ("names the zoo model lacks", missing_in_model),
                             ("zoo layers the checkpoint lacks", unassigned)) if items))
    used = 0
    for prefix, params in groups.items():
        layer = by_name[names[prefix]]
        layer.set_weights(_keras_values(layer, params, prefix))
        used += len(params)
    return used


def _keras_values(layer, params, prefix):
    """The torch tensors of one module, in ``layer.weights`` order and Keras layout."""
    from keras import layers

    p = dict(params)
    if isinstance(layer, layers.BatchNormalization):
        by_var = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
        values = {var: p.pop(src, None) for var, src in by_var.items()}
    elif isinstance(layer, layers.DepthwiseConv2D):
        w = p.pop("weight")
        m = layer.depth_multiplier
        kernel = w.reshape(w.shape[0] // m, m, *w.shape[2:]).transpose(2, 3, 0, 1)
        values = {"kernel": kernel, "depthwise_kernel": kernel, "bias": p.pop("bias", None)}
    elif isinstance(layer, layers.Conv2D):  # zoo.layers.GroupedConv2D too: (O, I/g, kh, kw) -> (kh, kw, I/g, O)
        values = {"kernel": p.pop("weight").transpose(2, 3, 1, 0), "bias": p.pop("bias", None)}
    elif isinstance(layer, layers.Dense):
        values = {"kernel": p.pop("weight").T, "bias": p.pop("bias", None)}
    else:
        raise ValueError(f"{prefix} -> {layer.name}: no torch conversion for {type(layer).__name__}")  # noqa: TRY004
    if p:
        raise ValueError(f"{prefix} -> {layer.name}: unused checkpoint tensors {sorted(p)}")
    out = []
    for var in layer.weights:
        value = values.get(var.name)
        if value is None:
            raise ValueError(f"{prefix} -> {layer.name}: the checkpoint has no tensor for {var.name}")
        if tuple(value.shape) != tuple(var.shape):
            raise ValueError(f"{prefix} -> {layer.name}/{var.name}: shape {tuple(value.shape)} (from torch) "
                             f"!= {tuple(var.shape)} (zoo)")
        out.append(value.astype(var.dtype))
    expected = sum(v is not None for k, v in values.items() if k != "depthwise_kernel")
    if len(out) != expected:
        raise ValueError(f"{prefix} -> {layer.name}: {expected} checkpoint tensors for {len(out)} zoo weights")
    return out
