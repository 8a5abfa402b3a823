"""Benchmark suites: a TOML file that names data, recipe, seeds and model grids.

Everything in it is checked when it is loaded, before any training starts, through the
experiment layer (``zoo.experiment``): unknown keys at every level, the dataset section,
the recipe (parsed once, here), the run settings (one set of defaults), model names, knob
names and grids. ``validate`` then builds every configuration once (the registry's and the
builders' checks). One configuration = model x grid point x seed.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.experiment.configs import (
    MODEL_KEYS,
    RunConfig,
    check_model_entry,
    expand_grid,
    format_config,  # noqa: F401  (part of this module's API: suite configs as text)
    input_shape,
    run_id,
    stable_hash,
    validate_configs,
)
from zoo.experiment.dataset import parse_dataset
from zoo.experiment.deploy import DEPLOY_KEYS, parse_formats
from zoo.experiment.distribute import STRATEGIES, check_strategy
from zoo.experiment.settings import LATENCY_KEYS, LatencySettings
from zoo.experiment.specfile import (
    check_keys,
    load_toml,
    non_negative_int,
    parse_name,
    parse_recipe,
    table,
)

SUITE_KEYS = {
    "name": "the suite's name (results go to results/<name>/)",
    "description": "what the suite measures, and how long it takes",
    "dataset": "table: which data to train and evaluate on",
    "recipe": "table: the training recipe (zoo.training.Recipe keys)",
    "run": "table: seeds and measurement settings",
    "models": "array of tables: [[models]] name = ..., grid = {...}, fixed knobs",
}
RUN_KEYS = {
    "seeds": "list of integer seeds; every configuration runs once per seed (default [0])",
    "latency": "true/false: measure batch-1 latency and throughput (default true)",
    **LATENCY_KEYS,
    # Measurements of a finished run, like latency: not in the fingerprint or the run ids.
    **DEPLOY_KEYS,
    "reuse": "list of other suites' names: a run whose id is already in results/<name>/results.csv "
             "is copied from there instead of retrained (the id hashes model, knobs, seed, data "
             "and recipe, so it is the same experiment)",
    # zoo bench --ray only: where a run trains, never what it measures, so not in the fingerprint or run ids
    "ray_num_cpus": "CPUs Ray reserves for each run, also TensorFlow's thread count there (default 1; "
                    "fractions allowed)",
    "ray_num_gpus": "GPUs Ray reserves for each run (default 0; 0.5 lets two runs share one)",
    "ray_max_retries": "how often Ray reruns a run whose worker process or node died (default 3); "
                       "a run that raised or diverged is a result, never retried",
    # How one run trains (zoo.experiment.distribute), likewise not in the fingerprint or run ids.
    "strategy": f"one of {list(STRATEGIES)}: auto (default) mirrors over the GPUs when there are several, "
                "mirrored over this machine's GPUs, multi_worker over the machines of $TF_CONFIG; "
                "zoo bench --strategy overrides it",
}
SUITES_DIR = "benchmarks"


@dataclass(frozen=True)
class RaySettings:
    """The ``ray_*`` keys of ``[run]``: what each task of ``zoo bench --ray`` asks Ray for."""

    num_cpus: float = 1
    num_gpus: float = 0
    max_retries: int = 3

    @classmethod
    def parse(cls, values: Mapping[str, Any], path: Path) -> RaySettings:
        settings = cls(**{k[len("ray_"):]: v for k, v in values.items() if k.startswith("ray_")})
        for key, allowed, ok in (("num_cpus", "> 0", lambda v: v > 0), ("num_gpus", ">= 0", lambda v: v >= 0)):
            value = getattr(settings, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
                raise ValueError(f"{path}: invalid [run] ray_{key}={value!r}; allowed: a number {allowed}")
        non_negative_int(settings.max_retries, "[run] ray_max_retries", path)
        return settings


@dataclass(frozen=True)
class RunSettings:
    """A suite's ``[run]`` table, defaults filled in."""

    seeds: tuple[int, ...] = (0,)
    latency: bool = True
    timing: LatencySettings = field(default_factory=LatencySettings)
    reuse: tuple[str, ...] = ()
    ray: RaySettings = field(default_factory=RaySettings)
    deploy: tuple[str, ...] = ()  # TFLite formats each finished run is measured in (zoo.experiment.deploy)
    calibration_images: int = 200
    strategy: str = "auto"  # zoo.experiment.distribute: where a run trains, not in the fingerprint


@dataclass(frozen=True)
class Suite:
    """A validated suite file."""

    path: Path
    name: str
    description: str
    dataset: Mapping[str, Any]
    recipe: Mapping[str, Any]  # as written: part of the fingerprint
    run: RunSettings
    models: tuple[Mapping[str, Any], ...]
    text: str = field(repr=False)
    training: Any = field(default=None, repr=False)  # the [recipe] parsed: a zoo.training.Recipe

    @property
    def image_size(self) -> int:
        return int(self.dataset["image_size"])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return input_shape(self.image_size)

    @property
    def fingerprint(self) -> str:
        """Hash of everything that changes a run's numbers except the model: data and recipe.

        Rows measured under another fingerprint must never be mixed into the same table.
        """
        return stable_hash({"dataset": dict(self.dataset), "recipe": dict(self.recipe)})

    @property
    def file_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def configurations(self, only: str | None = None) -> list[RunConfig]:
        """Every run, seeds outermost: a full pass over the models finishes before seed 2 starts.

        ``only`` keeps models whose name matches a shell wildcard.
        """
        runs = []
        for seed in self.run.seeds:
            for entry in self.models:
                if only and not fnmatch.fnmatch(entry["name"], only):
                    continue
                overrides = dict(entry.get("recipe", {}))
                weights = entry.get("weights")
                for knobs in expand_grid(entry):
                    runs.append(RunConfig(entry["name"], knobs, seed,
                                          run_id(entry["name"], knobs, seed, self.fingerprint, overrides, weights),
                                          overrides, weights))
        return runs

    def weights_path(self, cfg: RunConfig) -> str | None:
        """Where a fine-tuning entry's weights are (a tag, or the file relative to this suite file)."""
        from zoo.experiment.configs import resolve_weights

        return resolve_weights(cfg.weights, self.path) if cfg.weights else None

    def recipe_for(self, cfg: RunConfig):
        """The Recipe a configuration trains with: [recipe] plus its entry's overrides."""
        if not cfg.recipe:
            return self.training
        return parse_recipe({**self.recipe, **cfg.recipe}, f"{self.path} {cfg.label}")


def resolve_suite_path(path: str | Path) -> Path:
    """A suite file, or the bare name of a shipped suite (``quick`` -> ``benchmarks/quick.toml``,
    looked up in the working directory, then beside the zoo package's checkout)."""
    path = Path(path)
    if path.is_file():
        return path
    checkout = Path(__file__).resolve().parents[2]
    if path.suffix != ".toml" and len(path.parts) == 1:
        for root in (Path.cwd(), checkout):
            candidate = root / SUITES_DIR / f"{path.name}.toml"
            if candidate.is_file():
                return candidate
    shipped = sorted(p.stem for p in (checkout / SUITES_DIR).glob("*.toml"))
    raise FileNotFoundError(f"suite file {str(path)!r} does not exist; give a path to a .toml file"
                            + (f" or a shipped suite name: {', '.join(shipped)}" if shipped else ""))


def parse_run(values: Mapping[str, Any], name: str, path: Path) -> RunSettings:
    check_keys(values, RUN_KEYS, "[run]", path)
    seeds = values.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise ValueError(f"{path}: invalid [run] seeds={seeds!r}; allowed: a non-empty list of distinct integers >= 0")
    latency = values.get("latency", True)
    if not isinstance(latency, bool):
        raise ValueError(f"{path}: invalid [run] latency={latency!r}; allowed: true or false")
    reuse = values.get("reuse", [])
    if not isinstance(reuse, list) or not all(isinstance(n, str) and n and "/" not in n and n != name
                                              for n in reuse):
        raise ValueError(f"{path}: invalid [run] reuse={reuse!r}; allowed: a list of other suites' names "
                         f"(results/<name>/ next to this suite's results), not {name!r} itself")
    deploy, calibration_images = parse_formats(values, "[run]", path)
    strategy = check_strategy(values.get("strategy", "auto"), "[run] strategy", f"{path}: ")
    return RunSettings(tuple(seeds), latency, LatencySettings.parse(values, "[run]", path), tuple(reuse),
                       RaySettings.parse(values, path), deploy, calibration_images, strategy)


def load_suite(path: str | Path, check_files: bool = True) -> Suite:
    """Parse and check a suite file (cheap: no data, no model building).

    ``check_files=False`` checks everything but the existence of ``weights =`` files, for
    reading the copy of a suite that a results directory keeps (its relative paths point
    from benchmarks/)."""
    path = resolve_suite_path(path)
    doc, text = load_toml(path, "suite file")
    check_keys(doc, SUITE_KEYS, "the top level", path)
    name, description = parse_name(doc, path)
    dataset = parse_dataset(table(doc, "dataset", path, required=True, hint=SUITE_KEYS["dataset"]), path)
    recipe = table(doc, "recipe", path)
    training = parse_recipe(recipe, f"{path} [recipe]")
    run = parse_run(table(doc, "run", path), name, path)
    models = doc.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, dict) for m in models):
        raise ValueError(f"{path}: needs at least one [[models]] table ({SUITE_KEYS['models']})")
    for i, entry in enumerate(models):
        check_model_entry(entry, f"[[models]] #{i + 1}", path, check_files)
    return Suite(path, name, description, dataset, recipe, run, tuple(models), text, training)


def validate_models(suite: Suite, num_classes: int, configs: list[RunConfig] | None = None,
                    analyze: bool = True) -> dict[tuple[str, str], dict[str, Any]]:
    """Build every distinct configuration once; ``{(model, config): {"params", "macs"}}``."""
    return validate_configs(configs if configs is not None else suite.configurations(), suite.input_shape,
                            num_classes, suite.path, analyze=analyze)


__all__ = ["MODEL_KEYS", "RUN_KEYS", "SUITE_KEYS", "RaySettings", "RunConfig", "RunSettings", "Suite", "expand_grid",
           "load_suite", "resolve_suite_path", "validate_models"]
