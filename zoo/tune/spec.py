"""Tuning jobs: a TOML file that names a model family, a search space over its knobs,
a cost budget, and the data and recipe (the same ``[dataset]``/``[recipe]`` sections as a
benchmark suite, so a tuned configuration drops into a suite unchanged).

Everything here is checked before any training: unknown keys, knobs the model does not
have, empty or malformed ranges, unknown tuners and objectives, and (in
``check_feasible``, which builds models but trains nothing) a budget that no
configuration of the space can meet.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.experiment.configs import DATA_KNOBS, check_buildable, input_shape
from zoo.experiment.dataset import parse_dataset
from zoo.experiment.settings import LatencySettings
from zoo.experiment.specfile import check_keys, is_number, load_toml, parse_name, parse_recipe, positive_int
from zoo.experiment.specfile import table as spec_table

JOB_KEYS = {
    "name": "the job's name (report: results/tuning/<name>.md)",
    "description": "what the job searches, on what data, and how long it takes",
    "model": "a registered model name (zoo list)",
    "search": "table: tuner, objective, max_trials, seed, max_rejected, options",
    "space": "table: knob -> list of choices, or {min, max, step} range; 'resolution' sets the input size",
    "fixed": "table: knobs fixed for every trial",
    "budget": "table: max_macs, max_params, max_latency_ms (+ latency_batch, latency_warmup, latency_iters)",
    "dataset": "table: which data to train and evaluate on (as in benchmark suites)",
    "recipe": "table: the training recipe (zoo.training.Recipe keys)",
}
SEARCH_KEYS = {
    "tuner": "one of 'random', 'grid', 'bayesian', 'hyperband'",
    "objective": "the metric to optimise: 'val_accuracy' (default), 'val_top5', 'val_loss', "
                 "or {name = ..., direction = 'max' | 'min'}",
    "max_trials": "how many configurations to TRAIN (rejected ones do not count), an integer > 0",
    "max_rejected": "stop after this many over-budget configurations (default 20 x max_trials)",
    "seed": "seed of the tuner and of every trial's training (default 0)",
    "options": "table of tuner-specific settings: bayesian num_initial_points, alpha, beta; "
               "hyperband max_epochs, factor, hyperband_iterations",
}
TUNER_OPTIONS = {
    "random": {},
    "grid": {},
    "bayesian": {"num_initial_points": int, "alpha": float, "beta": float},
    "hyperband": {"max_epochs": int, "factor": int, "hyperband_iterations": int},
}
# Metrics a trial reports; direction is what "better" means.
METRICS = {
    "val_accuracy": "max", "val_top5": "max", "val_loss": "min",
    "train_accuracy": "max", "train_loss": "min",
}
BUDGET_KEYS = {
    "max_macs": "multiply-accumulates per image (zoo.cost.analyze), a number > 0",
    "max_params": "parameters (zoo.cost.analyze), a number > 0",
    "max_latency_ms": "median batch latency in ms on this machine (zoo.experiment.latency), a number > 0",
    "latency_batch": "batch size for the latency measurement (default 1)",
    "latency_warmup": "untimed calls before timing (default 10)",
    "latency_iters": "timed calls (default 50)",
}
BUDGET_LIMITS = {"max_macs": "macs", "max_params": "params", "max_latency_ms": "latency_ms"}
# The input resolution is not a builder keyword: it sets input_shape and [dataset] image_size.
RESOLUTION = "resolution"
# A finite space up to this size is checked configuration by configuration.
MAX_ENUMERATED = 64


@dataclass(frozen=True)
class Choice:
    """A knob searched over a list of values (``hp.Choice``)."""

    values: tuple[Any, ...]

    def candidates(self) -> tuple[Any, ...]:
        return self.values


@dataclass(frozen=True)
class Range:
    """A numeric knob searched over [min, max] (``hp.Int``/``hp.Float``); ``step`` makes it finite."""

    min: float
    max: float
    step: float | None = None
    integer: bool = False
    log: bool = False

    def candidates(self) -> tuple[Any, ...] | None:
        """Every value when the range is stepped, else None (continuous)."""
        if self.step is None:
            return None
        n = int(math.floor((self.max - self.min) / self.step + 1e-9)) + 1
        vals = [self.min + i * self.step for i in range(n)]
        return tuple(int(round(v)) if self.integer else round(v, 10) for v in vals)


@dataclass(frozen=True)
class Budget:
    """Cost limits checked before a configuration is trained; None = no limit."""

    max_macs: float | None = None
    max_params: float | None = None
    max_latency_ms: float | None = None
    latency_batch: int = LatencySettings.latency_batch
    latency_warmup: int = LatencySettings.latency_warmup
    latency_iters: int = LatencySettings.latency_iters

    @property
    def needs_latency(self) -> bool:
        return self.max_latency_ms is not None

    def violations(self, cost: Mapping[str, float]) -> list[str]:
        """Human-readable reasons a measured cost is over budget (empty: within budget)."""
        out = []
        for key, metric in BUDGET_LIMITS.items():
            limit = getattr(self, key)
            value = cost.get(metric)
            if limit is not None and value is not None and not math.isnan(value) and value > limit:
                out.append(f"{metric} {fmt_count(value)} > {key} {fmt_count(limit)}")
        return out

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in BUDGET_LIMITS if getattr(self, k) is not None}


@dataclass(frozen=True)
class TuneSpec:
    """A validated tuning job file."""

    path: Path
    name: str
    description: str
    model: str
    tuner: str
    objective: str
    direction: str
    max_trials: int
    max_rejected: int
    seed: int
    options: Mapping[str, Any]
    space: Mapping[str, Choice | Range]
    fixed: Mapping[str, Any]
    budget: Budget
    dataset: Mapping[str, Any]
    recipe: Mapping[str, Any]
    text: str = field(repr=False)
    training: Any = field(default=None, repr=False)  # the [recipe] parsed: a zoo.training.Recipe

    @property
    def file_hash(self) -> str:
        """Identifies the job's content: a resumed job must be the same job."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @property
    def image_size(self) -> int:
        return int(self.dataset["image_size"])

    def resolutions(self) -> tuple[int, ...]:
        """Input sides the search may use (the [dataset] image_size when not searched)."""
        dim = self.space.get(RESOLUTION)
        if dim is None:
            return (int(self.fixed.get(RESOLUTION, self.image_size)),)
        cands = dim.candidates()
        return tuple(int(v) for v in cands) if cands is not None else (int(dim.min), int(dim.max))

    def is_finite(self) -> bool:
        return all(d.candidates() is not None for d in self.space.values())

    def size(self) -> int | None:
        """Number of configurations in the space, None when a range is continuous."""
        if not self.is_finite():
            return None
        return math.prod(len(d.candidates()) for d in self.space.values())


def fmt_count(value: float) -> str:
    """Compact numbers for messages: 12.3M, 450k, 3.2."""
    value = float(value)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


# --- loading and validation ---------------------------------------------------------


def _parse_dimension(knob: str, rule: Any, path: Path) -> Choice | Range:
    where = f"[space] {knob}"
    if isinstance(rule, list):
        if not rule:
            raise ValueError(f"{path}: {where} is an empty list; allowed: a non-empty list of choices "
                             "or a {min, max, step} range")
        if len({json.dumps(v, sort_keys=True) for v in rule}) != len(rule):
            raise ValueError(f"{path}: {where}={rule!r} repeats a value")
        kinds = {type(v) for v in rule}
        if kinds == {int, float}:
            rule = [float(v) for v in rule]
        elif len(kinds) != 1 or not kinds <= {int, float, str, bool}:
            raise ValueError(f"{path}: {where}={rule!r}; allowed: choices of one type "
                             "(integers, numbers, strings or booleans)")
        return Choice(tuple(rule))
    if isinstance(rule, dict):
        check_keys(rule, {"min": 0, "max": 0, "step": 0, "sampling": 0}, where, path)
        lo, hi, step = rule.get("min"), rule.get("max"), rule.get("step")
        if not (is_number(lo) and is_number(hi)) or lo > hi:
            raise ValueError(f"{path}: invalid {where} range min={lo!r}, max={hi!r}; "
                             "allowed: numbers with min <= max")
        if step is not None and (not is_number(step) or step <= 0):
            raise ValueError(f"{path}: invalid {where} step={step!r}; allowed: a number > 0")
        sampling = rule.get("sampling", "linear")
        if sampling not in ("linear", "log"):
            raise ValueError(f"{path}: invalid {where} sampling={sampling!r}; allowed: one of ['linear', 'log']")
        if sampling == "log" and lo <= 0:
            raise ValueError(f"{path}: {where}: log sampling needs min > 0, got {lo!r}")
        integer = all(isinstance(v, int) for v in (lo, hi) + ((step,) if step is not None else ()))
        return Range(lo, hi, step, integer, sampling == "log")
    raise ValueError(f"{path}: invalid {where}={rule!r}; allowed: a list of choices "
                     "or a table {min, max, step}")


def _parse_budget(table: Mapping[str, Any], path: Path) -> Budget:
    check_keys(table, BUDGET_KEYS, "[budget]", path)
    limits = {key: table.get(key) for key in BUDGET_LIMITS}
    for key, v in limits.items():
        if v is not None and (not is_number(v) or v <= 0 or not math.isfinite(v)):
            raise ValueError(f"{path}: invalid [budget] {key}={v!r}; allowed: {BUDGET_KEYS[key]}")
    timing = LatencySettings.parse(table, "[budget]", path)
    return Budget(**limits, latency_batch=timing.latency_batch, latency_warmup=timing.latency_warmup,
                  latency_iters=timing.latency_iters)


def _parse_objective(value: Any, path: Path) -> tuple[str, str]:
    if isinstance(value, dict):
        check_keys(value, {"name": 0, "direction": 0}, "[search] objective", path)
        name, direction = value.get("name"), value.get("direction")
    else:
        name, direction = value, None
    if name not in METRICS:
        raise ValueError(f"{path}: invalid [search] objective={name!r}; allowed: one of {list(METRICS)}")
    direction = direction or METRICS[name]
    if direction not in ("max", "min"):
        raise ValueError(f"{path}: invalid [search] objective direction={direction!r}; allowed: 'max' or 'min'")
    return name, direction


def load_spec(path: str | Path) -> TuneSpec:
    """Parse and check a job file. Cheap: no TensorFlow, no data, no model building."""
    from zoo.registry import get_spec

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tuning spec {str(path)!r} does not exist "
                                "(jobs ship in tuning/: quick.toml, shufflenet-groups.toml, mobilenet-width.toml)")
    doc, text = load_toml(path, "tuning spec")
    check_keys(doc, JOB_KEYS, "the top level", path)

    name, description = parse_name(doc, path)
    model = doc.get("model")
    if model is None:
        raise ValueError(f"{path}: needs model = ... ({JOB_KEYS['model']})")
    try:
        model_spec = get_spec(model)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None

    search = spec_table(doc, "search", path, required=True, hint=JOB_KEYS["search"])
    check_keys(search, SEARCH_KEYS, "[search]", path)
    tuner = search.get("tuner", "random")
    if tuner not in TUNER_OPTIONS:
        raise ValueError(f"{path}: invalid [search] tuner={tuner!r}; allowed: one of {list(TUNER_OPTIONS)}")
    if tuner == "bayesian" and importlib.util.find_spec("sklearn") is None:
        raise ValueError(f"{path}: [search] tuner='bayesian' needs scikit-learn (keras-tuner's Gaussian "
                         "process), which is not installed: pip install 'keras-tuner[bayesian]', "
                         "or use tuner = 'random', 'grid' or 'hyperband'")
    objective, direction = _parse_objective(search.get("objective", "val_accuracy"), path)
    if "max_trials" not in search:
        raise ValueError(f"{path}: [search] needs max_trials ({SEARCH_KEYS['max_trials']})")
    max_trials = positive_int(search["max_trials"], "[search] max_trials", path)
    max_rejected = positive_int(search.get("max_rejected", 20 * max_trials), "[search] max_rejected", path)
    seed = search.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{path}: invalid [search] seed={seed!r}; allowed: an integer >= 0")
    options = search.get("options", {})
    if not isinstance(options, dict):
        raise ValueError(f"{path}: [search] options must be a table, got {options!r}")
    check_keys(options, TUNER_OPTIONS[tuner], f"[search] options (tuner {tuner!r})", path)
    for key, kind in TUNER_OPTIONS[tuner].items():
        if key in options and not (is_number(options[key]) and (kind is float or isinstance(options[key], int))):
            raise ValueError(f"{path}: invalid [search] options {key}={options[key]!r}; allowed: a {kind.__name__}")

    allowed_knobs = [k for k in model_spec.knobs if k not in DATA_KNOBS] + [RESOLUTION]
    raw_space = spec_table(doc, "space", path)
    if not raw_space:
        raise ValueError(f"{path}: the search space is empty; add a [space] table with at least one knob "
                         f"of {model!r}: {', '.join(allowed_knobs)}")
    fixed = spec_table(doc, "fixed", path)
    space = {}
    for knob, rule in raw_space.items():
        if knob not in allowed_knobs:
            raise ValueError(f"{path}: [space] {model!r} has no knob {knob!r}; allowed: {', '.join(allowed_knobs)}")
        if knob in fixed:
            raise ValueError(f"{path}: knob {knob!r} is both in [space] and [fixed]; keep one")
        space[knob] = _parse_dimension(knob, rule, path)
    for knob in fixed:
        if knob not in allowed_knobs:
            raise ValueError(f"{path}: [fixed] {model!r} has no knob {knob!r}; allowed: {', '.join(allowed_knobs)}")
    for knob, dim in space.items():
        choices = model_spec.knobs[knob].choices if knob in model_spec.knobs else None
        cands = dim.candidates()
        if choices is not None:
            if cands is None:
                raise ValueError(f"{path}: [space] {knob} takes {model_spec.knobs[knob].allowed}; "
                                 "give a list of choices or a range with a step")
            bad = [v for v in cands if v not in choices]
            if bad:
                raise ValueError(f"{path}: [space] {model}: invalid {knob} value(s) {bad}; "
                                 f"allowed: {model_spec.knobs[knob].allowed}")
    if tuner == "grid" and not all(d.candidates() is not None for d in space.values()):
        raise ValueError(f"{path}: the grid tuner needs a finite space: give every range a step")

    budget = _parse_budget(spec_table(doc, "budget", path), path)
    dataset = parse_dataset(spec_table(doc, "dataset", path, required=True, hint=JOB_KEYS["dataset"]), path)
    recipe = spec_table(doc, "recipe", path)
    training = parse_recipe(recipe, f"{path} [recipe]")
    spec = TuneSpec(path, name, description, model, tuner, objective, direction, max_trials, max_rejected,
                    seed, options, space, fixed, budget, dataset, recipe, text, training)
    res = space.get(RESOLUTION)
    res_values = (res.candidates() or (res.min, res.max)) if res is not None else (fixed.get(RESOLUTION, 1),)
    if res is not None and isinstance(res, Range) and not res.integer:
        res_values = (res.min,)  # a float range: rejected below
    for r in res_values:
        if isinstance(r, bool) or not isinstance(r, int) or r <= 0 or (isinstance(res, Range) and not res.integer):
            raise ValueError(f"{path}: invalid resolution={r!r}; allowed: integers > 0 (input side in pixels)")
    return spec


# --- configurations ------------------------------------------------------------------


def build_knobs(spec: TuneSpec, values: Mapping[str, Any], num_classes: int) -> tuple[dict[str, Any], int]:
    """Builder keywords for one point of the space, and its input side in pixels."""
    knobs = {**spec.fixed, **{k: v for k, v in values.items() if k in spec.space}}
    side = int(knobs.pop(RESOLUTION, spec.image_size))
    return {**knobs, "input_shape": input_shape(side), "num_classes": num_classes}, side


def cheapest_points(spec: TuneSpec) -> tuple[list[dict[str, Any]], bool]:
    """Points whose costs decide whether any configuration can meet the budget.

    A finite space of up to ``MAX_ENUMERATED`` points is enumerated (exact). Otherwise
    every combination of the list-valued knobs is taken at the low end of each range:
    ranges (width, resolution) are assumed to cost more as they grow. Returns the points
    and whether they are the whole space.
    """
    size = spec.size()
    if size is not None and size <= MAX_ENUMERATED:
        dims = {k: d.candidates() for k, d in spec.space.items()}
        return [dict(zip(dims, p)) for p in itertools.product(*dims.values())], True
    choice_dims = {k: d.values for k, d in spec.space.items() if isinstance(d, Choice)}
    low = {k: (int(d.min) if d.integer else d.min) for k, d in spec.space.items() if isinstance(d, Range)}
    combos = list(itertools.product(*choice_dims.values()))[:MAX_ENUMERATED]
    return [{**low, **dict(zip(choice_dims, c))} for c in combos], False


def measure_cost(model, budget: Budget, latency: bool | None = None) -> dict[str, float]:
    """Params and MACs (zoo.cost), then latency if asked (default: when the budget limits it).

    Latency, the slow measurement, is skipped when params or MACs are already over budget.
    """
    from zoo.cost import analyze

    report = analyze(model)
    cost = {"params": float(report.params), "macs": float(report.macs)}
    wanted = budget.needs_latency if latency is None else latency
    if wanted and not budget.violations(cost):
        from zoo.experiment.latency import measure_latency

        lat = measure_latency(model, batch_size=budget.latency_batch, warmup=budget.latency_warmup,
                              iters=budget.latency_iters)
        cost["latency_ms"] = float(lat["latency_ms"])
    return cost


def check_feasible(spec: TuneSpec, num_classes: int) -> dict[str, Any]:
    """Build (never train) the cheapest configurations; raise if none fits the budget.

    Stops at the first point within budget, so a feasible job costs one or a few
    builds. Also catches knob values the builder rejects for the points it builds.
    Returns how many points were built and the first one that fits.
    """
    import keras

    points, exhaustive = cheapest_points(spec)
    cheapest = None
    for checked, values in enumerate(points, start=1):
        knobs, _ = build_knobs(spec, values, num_classes)
        model = check_buildable(spec.model, knobs, f"{spec.path}: {spec.model} with {values}")
        cost = measure_cost(model, spec.budget) if spec.budget.as_dict() else {}
        del model
        keras.backend.clear_session()
        if not spec.budget.violations(cost):
            return {"checked": checked, "feasible": values, "exhaustive": exhaustive}
        if cheapest is None or cost["macs"] < cheapest[1]["macs"]:
            cheapest = (values, cost)
    what = "every configuration of the space" if exhaustive else "the cheapest corner of each choice"
    values, cost = cheapest
    raise ValueError(
        f"{spec.path}: the budget excludes every configuration: checked {len(points)} points "
        f"({what}); the cheapest, {values}, has {'; '.join(spec.budget.violations(cost))}. "
        "Raise the [budget] limits or add cheaper values to [space].")


def check_values(spec: TuneSpec, num_classes: int, base: Mapping[str, Any] | None = None) -> int:
    """Build (never train) the model once per searched value, the other knobs at ``base``.

    Catches values the builder rejects (``width = -1``, a group count that does not divide
    the channels) before the search, instead of as failed trials. Ranges are checked at
    both ends. Returns the number of models built.
    """
    import keras

    if base is None:
        base = cheapest_points(spec)[0][0]
    built = 0
    for name, dim in spec.space.items():
        cands = dim.candidates()
        values = cands if cands is not None else (dim.min, dim.max)
        for value in values:
            if value == base[name]:
                continue
            point = {**base, name: int(value) if isinstance(dim, Range) and dim.integer else value}
            knobs, _ = build_knobs(spec, point, num_classes)
            check_buildable(spec.model, knobs, f"{spec.path}: [space] {name} = {value!r} cannot be built "
                                               f"({spec.model} with {point})")
            built += 1
            keras.backend.clear_session()
    return built
