"""Benchmark suites: a TOML file that names data, recipe, seeds and model grids.

A suite is data, not code, so a published table can be reproduced from the file alone.
Everything in it is checked here, before any training starts: unknown keys at every
level, model names, knob names and values (through the registry and each builder),
and the dataset itself. One configuration = model x grid point x seed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUITE_KEYS = {
    "name": "the suite's name (results go to results/<name>/)",
    "description": "what the suite measures, and how long it takes",
    "dataset": "table: which data to train and evaluate on",
    "recipe": "table: the training recipe (zoo.training.Recipe keys)",
    "run": "table: seeds and measurement settings",
    "models": "array of tables: [[models]] name = ..., grid = {...}, fixed knobs",
}
DATASET_KEYS = {
    "name": "a dataset name (e.g. 'cifar10') or a folder path relative to the suite file",
    "train_split": "split to train on (default 'train')",
    "eval_split": "split to evaluate on (default 'test')",
    "image_size": "side in pixels that images are resized to, and the models' input size",
    "subset": "table for zoo.data.Subset: classes, per_class, fraction, seed (training split)",
    "eval_subset": "table for zoo.data.Subset applied to the evaluation split (default: all of it)",
    "on_bad_image": "'error' (default) or 'skip'",
}
RUN_KEYS = {
    "seeds": "list of integer seeds; every configuration runs once per seed",
    "latency": "true/false: measure batch-1 latency and throughput",
    "latency_batch": "batch size for the latency measurement (default 1)",
    "throughput_batch": "batch size for the throughput measurement (default 32)",
    "latency_warmup": "untimed calls before timing (default 10)",
    "latency_iters": "timed calls (default 50)",
    "reuse": "list of other suites' names: a run whose id is already in results/<name>/results.csv "
             "is copied from there instead of retrained (the id hashes model, knobs, seed, data "
             "and recipe, so it is the same experiment)",
}
MODEL_KEYS = {"name": "a registered model name (zoo list)", "grid": "table: knob -> list of values",
              "recipe": "table: recipe keys that replace the suite's [recipe] for this entry "
                        "(e.g. a lower learning_rate for a network without BatchNorm)"}
# Set by the runner from the dataset, so that every configuration matches the data.
RUNNER_KNOBS = ("input_shape", "num_classes")

DEFAULT_RUN = {"seeds": [0], "latency": True, "latency_batch": 1, "throughput_batch": 32,
               "latency_warmup": 10, "latency_iters": 50, "reuse": []}


@dataclass(frozen=True)
class RunConfig:
    """One run: a model, its full knob set from the suite, and a seed."""

    model: str
    knobs: Mapping[str, Any]
    seed: int
    run_id: str
    recipe: Mapping[str, Any] = field(default_factory=dict)  # this entry's overrides of [recipe]

    @property
    def config(self) -> str:
        """Compact, stable text form of the knobs, e.g. ``groups=3;width=0.5``, followed by
        the entry's recipe overrides (``; recipe: learning_rate=0.02``) when it has any."""
        text = format_config(self.knobs)
        if self.recipe:
            text = (text + "; " if text else "") + "recipe: " + format_config(self.recipe)
        return text

    @property
    def label(self) -> str:
        return f"{self.model}({self.config})" if self.config else self.model


@dataclass(frozen=True)
class Suite:
    """A validated suite file."""

    path: Path
    name: str
    description: str
    dataset: Mapping[str, Any]
    recipe: Mapping[str, Any]
    run: Mapping[str, Any]
    models: tuple[Mapping[str, Any], ...]
    text: str = field(repr=False)

    @property
    def image_size(self) -> int:
        return int(self.dataset["image_size"])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        import keras

        s = self.image_size
        return (s, s, 3) if keras.config.image_data_format() == "channels_last" else (3, s, s)

    @property
    def fingerprint(self) -> str:
        """Hash of everything that changes a run's numbers except the model: data and recipe.

        Rows measured under another fingerprint must never be mixed into the same table.
        """
        return _hash({"dataset": dict(self.dataset), "recipe": dict(self.recipe)})

    @property
    def file_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def configurations(self, only: str | None = None) -> list[RunConfig]:
        """Every run, seeds outermost: a full pass over the models finishes before seed 2 starts.

        Within a model, the grid is the cartesian product in the order its keys are written,
        the last key varying fastest. ``only`` keeps models whose name matches a shell wildcard.
        """
        import fnmatch

        runs = []
        for seed in self.run["seeds"]:
            for entry in self.models:
                if only and not fnmatch.fnmatch(entry["name"], only):
                    continue
                overrides = dict(entry.get("recipe", {}))
                for knobs in expand_grid(entry):
                    runs.append(RunConfig(entry["name"], knobs, seed,
                                          run_id(entry["name"], knobs, seed, self.fingerprint, overrides),
                                          overrides))
        return runs


def format_config(knobs: Mapping[str, Any]) -> str:
    return ";".join(f"{k}={json.dumps(v) if isinstance(v, str) else _plain(v)}"
                    for k, v in knobs.items())


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_plain(v) for v in value) + "]"
    return str(value)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def run_id(model: str, knobs: Mapping[str, Any], seed: int, suite_fingerprint: str,
           recipe_overrides: Mapping[str, Any] | None = None) -> str:
    """``<model>-<10 hex>``: readable in TensorBoard, unique per model + knobs + seed + data/recipe
    (+ the entry's recipe overrides, hashed only when present so other ids stay stable)."""
    key = {"model": model, "knobs": dict(knobs), "seed": seed, "suite": suite_fingerprint}
    if recipe_overrides:
        key["recipe"] = dict(recipe_overrides)
    digest = _hash(key)
    return f"{model}-{digest[:10]}"


def expand_grid(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Knob sets of one [[models]] entry: fixed knobs plus each point of the grid's product."""
    fixed = {k: v for k, v in entry.items() if k not in MODEL_KEYS}
    grid = entry.get("grid", {})
    points = itertools.product(*grid.values()) if grid else [()]
    return [{**fixed, **dict(zip(grid, point))} for point in points]


# --- loading and validation ---------------------------------------------------------


def check_keys(table: Mapping[str, Any], allowed: Mapping[str, str], where: str, path: Path) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))} in {where}; "
                         f"allowed: {', '.join(allowed)}")


def _table(doc: Mapping[str, Any], key: str, path: Path, required: bool = True) -> dict[str, Any]:
    value = doc.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{path}: [{key}] must be a table, got {value!r}")
    return dict(value)


def positive_int(value: Any, where: str, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{path}: invalid {where}={value!r}; allowed: an integer > 0")
    return value


def parse_name(doc: Mapping[str, Any], path: Path) -> tuple[str, str]:
    """The ``name`` and ``description`` every spec file (suite or tuning job) starts with."""
    name = doc.get("name")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"{path}: invalid name={name!r}; allowed: a non-empty string without '/'")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"{path}: invalid description={description!r}; allowed: a string")
    return name, description


def parse_dataset(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The ``[dataset]`` section (shared by suites and tuning jobs), with its defaults filled in."""
    dataset = dict(table)
    check_keys(dataset, DATASET_KEYS, "[dataset]", path)
    for key in ("name", "image_size"):
        if key not in dataset:
            raise ValueError(f"{path}: [dataset] needs {key!r} ({DATASET_KEYS[key]})")
    if not isinstance(dataset["name"], str) or not dataset["name"]:
        raise ValueError(f"{path}: invalid [dataset] name={dataset['name']!r}; allowed: {DATASET_KEYS['name']}")
    positive_int(dataset["image_size"], "[dataset] image_size", path)
    dataset.setdefault("train_split", "train")
    dataset.setdefault("eval_split", "test")
    dataset.setdefault("on_bad_image", "error")
    if dataset["on_bad_image"] not in ("error", "skip"):
        raise ValueError(f"{path}: invalid [dataset] on_bad_image={dataset['on_bad_image']!r}; "
                         f"allowed: one of ['error', 'skip']")
    for key in ("subset", "eval_subset"):
        if key in dataset and not isinstance(dataset[key], dict):
            raise ValueError(f"{path}: invalid [dataset] {key}={dataset[key]!r}; allowed: {DATASET_KEYS[key]}")
    return dataset


SUITES_DIR = "benchmarks"


def resolve_suite_path(path: str | Path) -> Path:
    """A suite file, or the bare name of a shipped suite (``quick`` -> ``benchmarks/quick.toml``,
    looked up in the working directory, then beside the zoo package's checkout)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.suffix != ".toml" and len(path.parts) == 1:
        for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
            candidate = root / SUITES_DIR / f"{path.name}.toml"
            if candidate.is_file():
                return candidate
    shipped = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / SUITES_DIR).glob("*.toml"))
    raise FileNotFoundError(f"suite file {str(path)!r} does not exist; give a path to a .toml file"
                            + (f" or a shipped suite name: {', '.join(shipped)}" if shipped else ""))


def load_suite(path: str | Path) -> Suite:
    """Parse and check the structure of a suite file (cheap: no TensorFlow, no data)."""
    path = resolve_suite_path(path)
    text = path.read_text()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    check_keys(doc, SUITE_KEYS, "the top level", path)
    name, description = parse_name(doc, path)
    dataset = parse_dataset(_table(doc, "dataset", path), path)

    recipe = _table(doc, "recipe", path, required=False)
    run = _table(doc, "run", path, required=False)
    check_keys(run, RUN_KEYS, "[run]", path)
    run = {**DEFAULT_RUN, **run}
    seeds = run["seeds"]
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise ValueError(f"{path}: invalid [run] seeds={seeds!r}; allowed: a non-empty list of distinct integers >= 0")
    if not isinstance(run["latency"], bool):
        raise ValueError(f"{path}: invalid [run] latency={run['latency']!r}; allowed: true or false")
    for key in ("latency_batch", "throughput_batch", "latency_iters"):
        positive_int(run[key], f"[run] {key}", path)
    if isinstance(run["latency_warmup"], bool) or not isinstance(run["latency_warmup"], int) \
            or run["latency_warmup"] < 0:
        raise ValueError(f"{path}: invalid [run] latency_warmup={run['latency_warmup']!r}; allowed: an integer >= 0")
    reuse = run["reuse"]
    if not isinstance(reuse, list) or not all(isinstance(n, str) and n and "/" not in n and n != name
                                              for n in reuse):
        raise ValueError(f"{path}: invalid [run] reuse={reuse!r}; allowed: a list of other suites' names "
                         f"(results/<name>/ next to this suite's results), not {name!r} itself")

    models = doc.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, dict) for m in models):
        raise ValueError(f"{path}: needs at least one [[models]] table ({SUITE_KEYS['models']})")
    for i, entry in enumerate(models):
        _check_model_entry(entry, f"[[models]] #{i + 1}", path)
    return Suite(path, name, description, dataset, recipe, run, tuple(models), text)


def _check_model_entry(entry: Mapping[str, Any], where: str, path: Path) -> None:
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
        from zoo.training import Recipe

        Recipe.from_dict(overrides, f"{path}: {where} recipe")  # unknown keys and bad values, now
    grid = entry.get("grid", {})
    if not isinstance(grid, dict):
        raise ValueError(f"{path}: {where}: grid must be a table of knob = [values], got {grid!r}")
    knob_names = [k for k in entry if k not in MODEL_KEYS] + list(grid)
    for knob in knob_names:
        if knob in RUNNER_KNOBS:
            raise ValueError(f"{path}: {where}: {knob!r} is set by the runner from [dataset]; remove it")
        if knob not in spec.knobs:
            raise ValueError(f"{path}: {where}: unknown knob {knob!r}; "
                             f"allowed: {', '.join(k for k in spec.knobs if k not in RUNNER_KNOBS)}")
    for knob, values in grid.items():
        if knob in entry:
            raise ValueError(f"{path}: {where}: knob {knob!r} is both fixed and in grid; keep one")
        if not isinstance(values, list) or not values:
            raise ValueError(f"{path}: {where}: invalid grid {knob}={values!r}; allowed: a non-empty list of values")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise ValueError(f"{path}: {where}: grid {knob}={values!r} repeats a value")


def validate_models(suite: Suite, num_classes: int, configs: list[RunConfig] | None = None,
                    analyze: bool = True) -> dict[tuple[str, str], dict[str, Any]]:
    """Build every distinct configuration once: the registry's and the builder's own checks.

    Returns ``{(model, config): {"params": ..., "macs": ...}}`` so a dry run can show the
    cost of the plan. A bad value raises naming the file, the model and the knob.
    """
    import keras

    from zoo.registry import build, check_knobs

    costs: dict[tuple[str, str], dict[str, Any]] = {}
    for cfg in configs if configs is not None else suite.configurations():
        key = (cfg.model, cfg.config)
        if key in costs:
            continue
        knobs = builder_knobs(cfg.knobs, suite.input_shape, num_classes)
        try:
            check_knobs(cfg.model, knobs)
            model = build(cfg.model, **knobs)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{suite.path}: {cfg.label}: {err}") from None
        costs[key] = model_cost(model) if analyze else {}
        del model
        keras.backend.clear_session()
    return costs


def builder_knobs(knobs: Mapping[str, Any], input_shape, num_classes: int) -> dict[str, Any]:
    """What ``zoo.build`` gets: TOML arrays become tuples (as ``--set`` makes them), plus the
    input shape and class count that the runner takes from the dataset."""
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()}
    return {**values, "input_shape": tuple(input_shape), "num_classes": num_classes}


def model_cost(model) -> dict[str, Any]:
    """Params and MACs from the project's cost model (zoo.cost.analyze)."""
    from zoo.cost import analyze

    report = analyze(model)
    return {"params": int(report.params), "macs": int(report.macs)}
