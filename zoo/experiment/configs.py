"""Model configurations: ``[[models]]`` entries and grids, run ids, and their check through the registry.

One configuration = model x grid point x seed. Its run id hashes the model, its knobs as
written, the seed and the spec's data/recipe fingerprint, so the same experiment has the
same id in every suite (and finished runs are found again after any code change that
leaves those inputs alone).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.experiment.specfile import parse_recipe

MODEL_KEYS = {"name": "a registered model name (zoo list)", "grid": "table: knob -> list of values",
              "recipe": "table: recipe keys that replace the suite's [recipe] for this entry "
                        "(e.g. a lower learning_rate for a network without BatchNorm)",
              "weights": "fine-tune from these weights instead of training from scratch: 'imagenet' (or a "
                         "weights tag), or a .keras / .weights.h5 file relative to the spec file (e.g. a zoo "
                         "bench checkpoint); a new head for the data's classes is trained, recipe.head_epochs "
                         "of them with the backbone frozen"}
# Set from the dataset, so that every configuration matches the data; never written in a spec.
DATA_KNOBS = ("input_shape", "num_classes")


@dataclass(frozen=True)
class RunConfig:
    """One run: a model, its knobs as the spec writes them, a seed, and the entry's recipe overrides."""

    model: str
    knobs: Mapping[str, Any]
    seed: int
    run_id: str
    recipe: Mapping[str, Any] = field(default_factory=dict)  # this entry's overrides of [recipe]
    weights: str | None = None  # fine-tune from these, as the spec writes them (a tag or a relative path)

    @property
    def config(self) -> str:
        """Compact, stable text form of the knobs, e.g. ``groups=3;width=0.5``, followed by
        the entry's recipe overrides (``; recipe: learning_rate=0.02``) when it has any."""
        text = format_config(self.knobs)
        if self.recipe:
            text = (text + "; " if text else "") + "recipe: " + format_config(self.recipe)
        if self.weights:
            text = (text + "; " if text else "") + f"weights: {self.weights}"
        return text

    @property
    def label(self) -> str:
        return f"{self.model}({self.config})" if self.config else self.model


def format_config(knobs: Mapping[str, Any]) -> str:
    """Readable text of knobs for tables; the structured form travels beside it as JSON."""
    return ";".join(f"{k}={json.dumps(v) if isinstance(v, str) else _plain(v)}" for k, v in knobs.items())


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_plain(v) for v in value) + "]"
    return str(value)


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def run_id(model: str, knobs: Mapping[str, Any], seed: int, fingerprint: str,
           recipe_overrides: Mapping[str, Any] | None = None, weights: str | None = None) -> str:
    """``<model>-<10 hex>``: readable in TensorBoard, unique per model + knobs + seed + data/recipe
    (+ the entry's recipe overrides and starting weights, each hashed only when present so
    other ids stay stable)."""
    key = {"model": model, "knobs": dict(knobs), "seed": seed, "suite": fingerprint}
    if recipe_overrides:
        key["recipe"] = dict(recipe_overrides)
    if weights:
        key["weights"] = weights
    return f"{model}-{stable_hash(key)[:10]}"


def expand_grid(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Knob sets of one [[models]] entry: fixed knobs plus each point of the grid's product,
    in the order the grid's keys are written, the last varying fastest."""
    fixed = {k: v for k, v in entry.items() if k not in MODEL_KEYS}
    grid = entry.get("grid", {})
    points = itertools.product(*grid.values()) if grid else [()]
    return [{**fixed, **dict(zip(grid, point))} for point in points]


def check_model_entry(entry: Mapping[str, Any], where: str, path: Path, check_files: bool = True) -> None:
    """A ``[[models]]`` table: a registered name, its knobs, grid and recipe overrides (no building).

    ``check_files=False`` skips opening a ``weights =`` file: a suite's copy inside a results
    directory names it relative to benchmarks/, where the reports that read the copy are not."""
    from zoo.registry import get_spec

    if "name" not in entry:
        raise ValueError(f"{path}: {where} needs 'name' ({MODEL_KEYS['name']})")
    try:
        spec = get_spec(entry["name"])
    except ValueError as err:
        raise ValueError(f"{path}: {where}: {err}") from None
    where = f"{where} ({entry['name']})"
    if "recipe" in entry:
        overrides = entry["recipe"]
        if not isinstance(overrides, dict) or not overrides:
            raise ValueError(f"{path}: {where}: recipe must be a non-empty table of [recipe] keys, "
                             f"got {overrides!r}")
        parse_recipe(overrides, f"{path}: {where} recipe")  # unknown keys and bad values, now
    if "weights" in entry:
        check_weights(entry, where, path, check_files)
    grid = entry.get("grid", {})
    if not isinstance(grid, dict):
        raise ValueError(f"{path}: {where}: grid must be a table of knob = [values], got {grid!r}")
    check_knob_names(spec, [k for k in entry if k not in MODEL_KEYS] + list(grid), where, path)
    for knob, values in grid.items():
        if knob in entry:
            raise ValueError(f"{path}: {where}: knob {knob!r} is both fixed and in grid; keep one")
        if not isinstance(values, list) or not values:
            raise ValueError(f"{path}: {where}: invalid grid {knob}={values!r}; allowed: a non-empty list of values")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise ValueError(f"{path}: {where}: grid {knob}={values!r} repeats a value")


def resolve_weights(weights: str, spec_path: Path) -> str:
    """A weights tag as it is, a file relative to the spec file as a path."""
    from zoo.weights import CHECKPOINTS

    if weights == "imagenet" or weights in {c.tag for c in CHECKPOINTS}:
        return weights
    return str((Path(spec_path).parent / weights).resolve())


def check_weights(entry: Mapping[str, Any], where: str, path: Path, check_files: bool = True) -> None:
    """``weights =``: a known tag, or an existing file; a zoo checkpoint must be of this configuration."""
    weights = entry["weights"]
    if not isinstance(weights, str) or not weights:
        raise ValueError(f"{path}: {where}: invalid weights={weights!r}; allowed: {MODEL_KEYS['weights']}")
    if "grid" in entry:
        raise ValueError(f"{path}: {where}: weights= fixes one architecture; give its knobs, not a grid")
    resolved = resolve_weights(weights, path)
    if resolved == weights or not check_files:
        return
    if not Path(resolved).is_file():
        raise FileNotFoundError(f"{path}: {where}: weights file {weights!r} does not exist ({resolved}); "
                                f"a zoo bench checkpoint is results/<suite>/checkpoints/<run id>.keras")
    if resolved.endswith(".keras"):
        from zoo.checkpoint import read_info

        info = read_info(resolved)
        knobs = {k: v for k, v in entry.items() if k not in MODEL_KEYS}
        if info.get("model") and (info["model"] != entry["name"] or dict(info.get("knobs") or {}) != knobs):
            raise ValueError(f"{path}: {where}: {weights!r} is a checkpoint of {info['model']} "
                             f"{info.get('knobs') or {}}, not of {entry['name']} {knobs}; give the checkpoint's "
                             "model and knobs")


def check_knob_names(spec, names: Iterable[str], where: str, path: Path, extra: Iterable[str] = ()) -> None:
    """Every name is a knob of the registered model (or one of ``extra``), never a data knob."""
    allowed = [k for k in spec.knobs if k not in DATA_KNOBS] + list(extra)
    for knob in names:
        if knob in DATA_KNOBS:
            raise ValueError(f"{path}: {where}: {knob!r} is set by the runner from [dataset]; remove it")
        if knob not in allowed:
            raise ValueError(f"{path}: {where}: unknown knob {knob!r}; allowed: {', '.join(allowed)}")


def input_shape(image_size: int) -> tuple[int, int, int]:
    """The models' input shape for square images of ``image_size`` under Keras' data format."""
    import keras

    s = int(image_size)
    return (s, s, 3) if keras.config.image_data_format() == "channels_last" else (3, s, s)


def builder_knobs(knobs: Mapping[str, Any], shape, num_classes: int) -> dict[str, Any]:
    """What ``zoo.build`` gets: TOML arrays become tuples (as ``--set`` makes them), plus the
    input shape and class count taken from the dataset."""
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()}
    return {**values, "input_shape": tuple(shape), "num_classes": num_classes}


def check_buildable(model: str, knobs: Mapping[str, Any], where: str):
    """Build once (the registry's and the builder's checks); a bad value raises naming ``where``."""
    from zoo.registry import build, check_knobs

    try:
        check_knobs(model, knobs)
        return build(model, **knobs)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: {err}") from None


def validate_configs(configs: Iterable[RunConfig], shape, num_classes: int, path: Path,
                     analyze: bool = True) -> dict[tuple[str, str], dict[str, Any]]:
    """Build every distinct configuration once; returns ``{(model, config): {"params", "macs"}}``."""
    import keras

    costs: dict[tuple[str, str], dict[str, Any]] = {}
    for cfg in configs:
        key = (cfg.model, cfg.config)
        if key in costs:
            continue
        model = check_buildable(cfg.model, builder_knobs(cfg.knobs, shape, num_classes), f"{path}: {cfg.label}")
        costs[key] = model_cost(model) if analyze else {}
        del model
        keras.backend.clear_session()
    return costs


def model_cost(model) -> dict[str, Any]:
    """Params and MACs from the project's cost model (zoo.cost.analyze)."""
    from zoo.cost import analyze

    report = analyze(model)
    return {"params": int(report.params), "macs": int(report.macs)}
