"""``zoo.build(..., weights=..., include_preprocessing=...)``: pick, fetch, map and check weights.

Every path ends in an explicit mapping onto the zoo model: keras.applications files through
keras' own model and loader, then layer by layer in order (kinds and shapes checked);
converted torch checkpoints and ``.keras`` files by layer name. Each zoo weight is assigned
exactly once or the build fails naming the layers. Keras' own ``load_weights`` is used only
between identically built models: it matches ``.weights.h5`` entries by layer class and
position and silently skips a missing head.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from zoo.weights.catalog import (
    CHECKPOINTS,
    PREPROCESSING,
    Checkpoint,
    checkpoints_for,
    keras_file,
)

# Knobs that change no weight shape: any value loads the same checkpoint.
FREE_KNOBS = frozenset({"input_shape", "num_classes", "include_top", "pooling", "classifier_activation",
                        "dropout", "name", "small_input", "output_stride"})
HEAD_LAYERS = ("head_predictions", "conv10")  # the classifier layers zoo families name (SqueezeNet: conv10)
DOWNLOAD_TIMEOUT = float(os.environ.get("ZOO_DOWNLOAD_TIMEOUT", "30"))  # seconds per network operation
META_ATTR = "zoo_weights"  # JSON attribute of files written by `zoo convert-weights`
# How convert-weights builds the model it writes and loads it back: logits, to compare with torch's
# ("linear": the same as classifier_activation=None, spelled out).
CONVERT_BUILD = {"input_shape": (224, 224, 3), "small_input": False, "classifier_activation": "linear"}


class MissingWeightsError(FileNotFoundError):
    """Weights neither in the cache nor downloadable; the message says how to get them there."""


def cache_dir() -> Path:
    """Keras' cache root, read now (``KERAS_HOME``, else ``~/.keras``) so a changed env applies."""
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"])
    base = Path.home() if os.access(Path.home(), os.W_OK) else Path("/tmp")
    return base / ".keras"


def converted_path(ckpt: Checkpoint) -> Path:
    """Where ``zoo convert-weights`` writes a torch checkpoint and ``weights=`` looks for it."""
    return cache_dir() / "models" / "zoo" / ckpt.cache_file


def convert_command(ckpt: Checkpoint) -> str:
    return f"zoo convert-weights {ckpt.name} --tag {ckpt.tag}"


# --- choosing a checkpoint --------------------------------------------------------------


def full_config(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Every knob of ``zoo.build(name, **kwargs)``: the builder's defaults, the variant's, the caller's."""
    from zoo.registry import check_knobs, get_spec

    return {**get_spec(name).knob_defaults(), **check_knobs(name, kwargs)}


def _arch(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in FREE_KNOBS}


def describe(name: str, config: dict[str, Any]) -> str:
    from zoo.registry import get_spec

    defaults = _arch(get_spec(name).knob_defaults())
    changed = {k: v for k, v in _arch(config).items() if defaults.get(k) != v}
    return name + (f"({', '.join(f'{k}={v!r}' for k, v in changed.items())})" if changed else "")


def available() -> str:
    """One line per checkpoint: how to build it (for error messages)."""
    return "\n".join(f"  zoo.build({c.name!r}{''.join(f', {k}={v!r}' for k, v in c.knobs.items())}, "
                     f"weights={c.tag!r})  # {c.source}, input {'/'.join(map(str, c.resolutions))} px"
                     for c in CHECKPOINTS)


def select(name: str, config: dict[str, Any], weights: str) -> Checkpoint:
    """The checkpoint for a configuration: ``"imagenet"`` = the first listed, else by tag."""
    from zoo.registry import get_spec

    arch = _arch(config)
    matches = [c for c in checkpoints_for(name)
               if _arch({**get_spec(c.name).knob_defaults(), **c.knobs}) == arch]
    picked = [c for c in matches if weights in ("imagenet", c.tag)]
    if picked:
        return picked[0]
    what = describe(name, config)
    if matches:
        raise ValueError(f"{what}: no {weights!r} weights; it has: "
                         f"{', '.join(repr(c.tag) for c in matches)} (or 'imagenet' for {matches[0].tag!r})")
    raise ValueError(f"{what}: no published ImageNet checkpoint for this configuration. "
                     f"Configurations with weights:\n{available()}")


def check_request(ckpt: Checkpoint, name: str, config: dict[str, Any]) -> int:
    """Refuse what the checkpoint cannot serve; return the input side whose weights to load."""
    what = describe(name, config)
    if config.get("small_input"):
        raise ValueError(f"{what}: small_input=True (the CIFAR-size stem) has no ImageNet weights; the "
                         f"checkpoints are for the ImageNet stem: pass small_input=False (or leave it None)")
    shape = tuple(config["input_shape"])
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(f"{what}: ImageNet weights need RGB input (H, W, 3); got input_shape={shape}")
    side = shape[0] if shape[0] == shape[1] else None
    if config["include_top"]:
        if config["num_classes"] != 1000:
            raise ValueError(
                f"{what}: weights={ckpt.tag!r} with include_top=True has the 1000-class ImageNet head, not "
                f"num_classes={config['num_classes']}. For {config['num_classes']} classes build the backbone with "
                f"include_top=False, pooling='avg' and put a new Dense({config['num_classes']}) on it, e.g. "
                f"keras.Sequential([zoo.build({name!r}, weights={ckpt.tag!r}, include_top=False, pooling='avg'), "
                f"keras.layers.Dense({config['num_classes']}, activation='softmax')])")
        if side not in ckpt.resolutions:
            raise ValueError(f"{what}: {ckpt.source}'s weights ({ckpt.tag!r}) with include_top=True exist for input "
                             f"{', '.join(f'({s}, {s}, 3)' for s in ckpt.resolutions)}, not {shape}; "
                             f"use one of those, or include_top=False for any input size")
    return side if side in ckpt.resolutions else ckpt.default_resolution


# --- build --------------------------------------------------------------------------------


def build_with_weights(name: str, kwargs: dict[str, Any], *, weights: Any = None,
                       include_preprocessing: bool | str = False):
    """``zoo.build`` with ``weights`` ("imagenet", a tag, a file path or None) and preprocessing."""
    from zoo.registry import build

    config = full_config(name, kwargs)
    mode = None
    if weights is None:
        model = build(name, **kwargs)
    elif isinstance(weights, str) and (weights == "imagenet" or weights in {c.tag for c in CHECKPOINTS}):
        if kwargs.get("small_input") is not True:  # automatic small_input means the checkpoint's stem
            config = full_config(name, {**kwargs, "small_input": False})
        ckpt = select(name, config, weights)
        side = check_request(ckpt, name, config)
        if ckpt.layout == "keras":
            path = fetch(*keras_file(ckpt, side, config["include_top"]))  # before building: fail fast
            model = load_keras_applications(build(name, **{**kwargs, "small_input": False}), ckpt, path, config, side)
        else:
            model = load_converted(build(name, **{**kwargs, "small_input": False}), ckpt, config)
        mode = ckpt.preprocessing
    elif isinstance(weights, (str, os.PathLike)):
        model, mode = load_file(name, kwargs, Path(weights))
    else:
        raise TypeError(f"weights must be None, 'imagenet', a tag ({', '.join(sorted({c.tag for c in CHECKPOINTS}))}) "
                        f"or a file path, not {type(weights).__name__}")
    if include_preprocessing:
        from zoo.weights.preprocessing import add_preprocessing

        model = add_preprocessing(model, preprocessing_mode(name, config, include_preprocessing, mode,
                                                            from_file=weights is not None and mode is None))
    return model


def preprocessing_mode(name, config, include_preprocessing, from_weights, *, from_file=False) -> str:
    """The scaling to put in front: the caller's mode, the weights' own, or (no weights) the default checkpoint's."""
    if isinstance(include_preprocessing, str):
        if include_preprocessing not in PREPROCESSING:
            raise ValueError(f"include_preprocessing={include_preprocessing!r}: use True (the weights' own), "
                             f"or one of {', '.join(map(repr, PREPROCESSING))}")
        return include_preprocessing
    if include_preprocessing is not True:
        raise TypeError(f"include_preprocessing must be True, False or a mode name, not {include_preprocessing!r}")
    if from_weights:
        return from_weights
    if not from_file:  # no weights: the scaling of the checkpoint weights="imagenet" would load
        try:
            return select(name, config, "imagenet").preprocessing
        except ValueError:
            pass
    raise ValueError(f"{describe(name, config)}: include_preprocessing=True, but these weights do not say which "
                     f"input scaling they expect; pass include_preprocessing='tf' ([-1, 1]) or 'torch' "
                     f"(ImageNet mean/std)")


# --- keras.applications --------------------------------------------------------------------


def fetch(fname: str, url: str, file_hash: str | None = None, subdir: str = "models") -> str:
    """``keras.utils.get_file`` into Keras' cache, failing fast and saying how to place the file by hand.

    ``ZOO_WEIGHTS_MIRROR`` (a URL prefix) replaces the host for every file; a stalled network
    fails after ``ZOO_DOWNLOAD_TIMEOUT`` seconds per operation instead of hanging.
    """
    import keras

    if os.environ.get("ZOO_WEIGHTS_MIRROR"):
        url = os.environ["ZOO_WEIGHTS_MIRROR"].rstrip("/") + "/" + fname
    target = cache_dir() / subdir / fname
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        return keras.utils.get_file(fname, url, file_hash=file_hash, cache_subdir=subdir, cache_dir=str(cache_dir()))
    except Exception as err:
        check = f" (md5 {file_hash})" if file_hash else ""
        raise MissingWeightsError(
            f"could not download {url}: {err}. Without network, fetch that file elsewhere and place it at "
            f"{target}{check}; keras.applications reads the same file there") from err
    finally:
        socket.setdefaulttimeout(previous)


def load_keras_applications(model, ckpt: Checkpoint, path: str, config: dict[str, Any], side: int):
    """Load keras.applications' file into its own model (keras' loader), then copy in layer order."""
    import keras

    app = getattr(keras.applications, ckpt.keras_app)
    ref = app(weights=None, include_top=config["include_top"], input_shape=(side, side, 3), **ckpt.keras_kwargs)
    try:
        ref.load_weights(path)
    except Exception as err:
        raise ValueError(f"{path} is not keras.applications' {ckpt.source_id} file "
                         f"(include_top={config['include_top']}, {side} px): {err}. Delete it to download again") from err
    copy_in_order(ref, model)
    return model


def _kind(layer) -> str:
    from keras import layers

    for cls, kind in ((layers.SeparableConv2D, "separable"), (layers.DepthwiseConv2D, "depthwise"),
                      (layers.Conv2D, "conv"), (layers.Dense, "dense"), (layers.BatchNormalization, "bn")):
        if isinstance(layer, cls):
            return kind
    return type(layer).__name__


def copy_in_order(src, dst) -> None:
    """Weighted layers paired in order; same kind and shapes (a 1x1 conv head may feed a Dense)."""
    pairs = list(zip(a := [x for x in src.layers if x.weights], b := [x for x in dst.layers if x.weights]))
    if len(a) != len(b):
        raise ValueError(f"{src.name} has {len(a)} layers with weights, {dst.name} {len(b)}: not the same architecture")
    for s, d in pairs:
        values = s.get_weights()
        if _kind(s) == "conv" and _kind(d) == "dense" and values[0].shape[:2] == (1, 1):
            values[0] = values[0].reshape(values[0].shape[2:])  # keras' MobileNet head: 1x1 conv_preds
        elif _kind(s) != _kind(d):
            raise ValueError(f"{src.name}/{s.name} ({_kind(s)}) cannot feed {dst.name}/{d.name} ({_kind(d)})")
        _set(d, values, f"{src.name}/{s.name}")


def _set(layer, values, source: str) -> None:
    want = [tuple(w.shape) for w in layer.weights]
    got = [tuple(v.shape) for v in values]
    if want != got:
        raise ValueError(f"{source} -> {layer.name}: shapes {got} != {want}")
    layer.set_weights(values)


def copy_by_name(src, dst) -> None:
    """Every weighted layer of ``dst`` from the same-named layer of ``src``; only a head may be left over."""
    pool = {layer.name: layer for layer in src.layers if layer.weights}
    missing = [layer.name for layer in dst.layers if layer.weights and layer.name not in pool]
    if missing:
        raise ValueError(f"{src.name} has no weights for {dst.name}'s layers {missing[:6]}: not the same architecture")
    for layer in dst.layers:
        if layer.weights:
            _set(layer, pool.pop(layer.name).get_weights(), f"{src.name}/{layer.name}")
    extra = sorted(set(pool) - set(HEAD_LAYERS)) if not _has_head(dst) else sorted(pool)
    if extra:
        raise ValueError(f"{src.name}'s layers {extra[:6]} have no place in {dst.name}: not the same architecture")


def _has_head(model) -> bool:
    return any(layer.name in HEAD_LAYERS for layer in model.layers)


# --- converted torch checkpoints and user files ----------------------------------------------


def load_converted(model, ckpt: Checkpoint, config: dict[str, Any]):
    path = converted_path(ckpt)
    if not path.is_file():
        source = f"{ckpt.source}'s {ckpt.source_id} ({ckpt.url})"
        raise MissingWeightsError(
            f"{ckpt.config} weights={ckpt.tag!r} are converted from {source} and are not in the cache: {path}. "
            f"Convert them once (PyTorch is needed for that step only: scripts/setup-torch-env):\n"
            f"  .venv-torch/bin/{convert_command(ckpt)}                 # downloads the checkpoint\n"
            f"  .venv-torch/bin/{convert_command(ckpt)} --from FILE.pth  # a file fetched by hand from the URL above")
    meta = read_meta(path)
    if not meta or meta.get("name") != ckpt.name or meta.get("tag") != ckpt.tag:
        raise ValueError(f"{path} was not written by `{convert_command(ckpt)}` (metadata {meta}); run it again")
    return load_meta_file(model, path, meta, config)


def read_meta(path: Path) -> dict | None:
    """The ``zoo convert-weights`` metadata of a .weights.h5 file, or None for other files."""
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get(META_ATTR)
    return json.loads(raw) if raw is not None else None


def load_meta_file(model, path: Path, meta: dict, config: dict[str, Any]):
    """A converted file loads into the model convert-weights built, then by name into ``model``.

    Keras' ``load_weights`` matches entries by layer class and graph position, so it is used
    directly only when the target has the converted model's graph (the 1000-class head, the
    same strides); any other target gets a converted-model copy first, then the layers by name.
    """
    from zoo.registry import build, get_spec
    from zoo.weights.torch_port import to_torch_layout

    torch = meta.get("layout") == "torch"
    model = to_torch_layout(model) if torch else model
    source_config = {**get_spec(meta["name"]).knob_defaults(), **meta["knobs"]}
    if config["include_top"] and config["num_classes"] == 1000 and \
            config.get("output_stride") == source_config.get("output_stride"):
        _check_file_shapes(model, path)
        model.load_weights(path)
        return model
    source = build(meta["name"], **meta["knobs"], **CONVERT_BUILD)
    source = to_torch_layout(source) if torch else source
    _check_file_shapes(source, path)
    source.load_weights(path)
    copy_by_name(source, model)
    return model


def _check_file_shapes(model, path: Path) -> None:
    """Keras matches .weights.h5 entries by position and skips what is missing: compare shapes first."""
    import h5py

    shapes = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda key, obj: shapes.append(tuple(obj.shape)) if isinstance(obj, h5py.Dataset) else None)
    want = [tuple(w.shape) for w in model.weights]
    if sorted(shapes) != sorted(want):
        raise ValueError(f"{path} holds {len(shapes)} arrays that do not fit {model.name}'s {len(want)} weights: "
                         f"it was saved from another configuration (input_shape, include_top, width ...)")


def load_file(name: str, kwargs: dict[str, Any], path: Path):
    """``weights=PATH``: a ``.weights.h5`` (zoo convert-weights' or ``model.save_weights``') or a ``.keras``."""
    from zoo.registry import build

    if not path.is_file():
        raise FileNotFoundError(f"weights={str(path)!r}: no such file (and not a known weights name: "
                                f"'imagenet' or one of {', '.join(sorted({c.tag for c in CHECKPOINTS}))})")
    config = full_config(name, kwargs)
    if path.name.endswith(".weights.h5"):
        meta = read_meta(path)
        if meta is None:  # a zoo model's own save_weights: the same configuration or nothing
            model = build(name, **kwargs)
            _check_file_shapes(model, path)
            model.load_weights(path)
            return model, None
        from zoo.registry import get_spec

        if get_spec(meta["name"]).builder is not get_spec(name).builder or \
                _arch({**get_spec(meta["name"]).knob_defaults(), **meta["knobs"]}) != _arch(config):
            raise ValueError(f"{path} holds {meta['name']} {meta['knobs'] or ''} weights, not {describe(name, config)}")
        if config.get("small_input"):
            raise ValueError(f"{path}: converted ImageNet weights need small_input=False")
        model = build(name, **{**kwargs, "small_input": False})
        return load_meta_file(model, path, meta, config), meta.get("preprocessing")
    if path.suffix == ".keras":
        import zoo
        from zoo.weights.preprocessing import mode_of
        from zoo.weights.torch_port import is_torch_layout, to_torch_layout

        src = zoo.load_model(str(path), compile=False)
        model = build(name, **kwargs)
        if is_torch_layout(src):
            model = to_torch_layout(model)
        copy_by_name(src, model)
        modes = [m for m in map(mode_of, src.layers) if m]
        return model, modes[0] if modes else None
    raise ValueError(f"weights={str(path)!r}: expected a .weights.h5 or .keras file")
