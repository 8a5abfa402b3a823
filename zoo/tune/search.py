"""keras-tuner driven by the project's registry, cost model and training loop.

What keras-tuner does not do on its own, and this module adds:

- Cost budgets (MACs, params, latency) checked right after building, BEFORE training.
  keras-tuner only knows ``max_model_size`` (params), and a rejected model counts as
  a failed trial: three in a row stop the search (keras-team/keras-tuner#175). Here a
  rejected configuration is recorded with its costs and ``rejected = 1`` and ended as
  FAILED (so it is never retried), and the oracle leaves rejections out of its
  consecutive-failure count and out of ``max_trials``: the search always trains
  ``max_trials`` configurations, unless the space runs out or ``max_rejected`` is hit.
- Training through ``zoo.training.train_and_evaluate`` (the benchmark runner's loop),
  with per-trial TensorBoard scalars and HParams on any Keras backend.
- Resuming (keras-tuner's project directory, ``overwrite=False``): a trial killed mid-
  training is still "ongoing" in the saved oracle, so it is re-run under the same id,
  and its partial TensorBoard run is cleared first.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import keras_tuner

from zoo.training import TOP5_MIN_CLASSES
from zoo.tune.kt_private import dist_utils, kt_config, trial_module
from zoo.tune.spec import Choice, Range, TuneSpec, build_knobs, measure_cost

REJECTED = "rejected"
"""Metric set to 1.0 on configurations over budget (never trained), 0.0 on trained ones."""
KT_PROJECT = "keras_tuner"
"""keras-tuner's project folder inside the job's folder (oracle.json, trial_*/trial.json)."""
COST_METRICS = ("params", "macs", "latency_ms")
# What train_and_evaluate returns -> the keras-style names a tuner objective uses.
TRAINING_METRICS = {"top1": "val_accuracy", "top5": "val_top5", "val_loss": "val_loss",
                    "train_top1": "train_accuracy", "train_loss": "train_loss",
                    "epochs": "epochs", "train_seconds": "train_seconds"}


class OverBudget(keras_tuner.errors.FailedTrialError):
    """A configuration whose cost is over the job's budget: recorded, never trained."""


def is_rejected(trial) -> bool:
    """True for a trial rejected by the budget (works on trials rebuilt from gRPC or disk)."""
    return trial.metrics.exists(REJECTED) and trial.metrics.get_last_value(REJECTED) == 1.0


def declare_space(spec: TuneSpec, hp: keras_tuner.HyperParameters) -> keras_tuner.HyperParameters:
    """Register the job's search space as keras-tuner hyperparameters (names = knob names)."""
    for name, dim in spec.space.items():
        if isinstance(dim, Choice):
            hp.Choice(name, list(dim.values))
        elif dim.integer:
            hp.Int(name, int(dim.min), int(dim.max), step=int(dim.step or 1),
                   sampling="log" if dim.log else "linear")
        else:
            hp.Float(name, float(dim.min), float(dim.max), step=dim.step,
                     sampling="log" if dim.log else "linear")
    return hp


def knob_values(spec: TuneSpec, hp) -> dict[str, Any]:
    """The searched knobs of a trial, with float steps rounded (0.75, not 0.7500000001)."""
    values = {}
    for name, dim in spec.space.items():
        v = hp.get(name)
        if isinstance(dim, Range) and not dim.integer:
            v = round(float(v), 10)
        values[name] = v
    return values


class ZooHyperModel(keras_tuner.HyperModel):
    """Maps keras-tuner hyperparameters to ``zoo.build`` keywords of one registry model."""

    def __init__(self, spec: TuneSpec, num_classes: int):
        super().__init__(name=spec.model, tunable=True)
        self.spec, self.num_classes = spec, num_classes

    def declare_hyperparameters(self, hp):
        declare_space(self.spec, hp)

    def knobs(self, hp) -> tuple[dict[str, Any], int]:
        return build_knobs(self.spec, knob_values(self.spec, hp), self.num_classes)

    def build(self, hp):
        from zoo.registry import build

        from zoo.training import build_with_precision

        knobs, _ = self.knobs(hp)
        return build_with_precision(self.spec.training.precision, lambda: build(self.spec.model, **knobs))


class _BudgetAwareOracle:
    """Mixed into a keras-tuner oracle: rejections are neither trials nor failures.

    ``max_trained`` replaces keras-tuner's ``max_trials`` (which would count rejected
    configurations); ``max_rejected`` bounds a search that keeps proposing configurations
    over budget.
    """

    max_trained: int | None = None
    max_rejected: int | None = None

    def _counts(self) -> tuple[int, int]:
        rejected = sum(is_rejected(t) for t in self.trials.values())
        return len(self.trials) - rejected, rejected

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if tuner_id not in self.ongoing_trials and not self._retry_queue:
            trained, rejected = self._counts()  # ongoing trials count as trained
            if (self.max_trained is not None and trained >= self.max_trained) or \
                    (self.max_rejected is not None and rejected >= self.max_rejected):
                self.tuner_ids.discard(tuner_id)
                return trial_module.Trial(self.get_space(), status=trial_module.TrialStatus.STOPPED)
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        # keras-tuner saves before it drops the trial from ongoing_trials; a chief oracle is
        # not saved again by a tuner, so a resumed job would re-run its last trial.
        self.save()

    def _check_consecutive_failures(self):
        # As keras-tuner's, but a rejection neither counts as a failure nor resets the count.
        consecutive = 0
        for trial_id in self.end_order:
            trial = self.trials[trial_id]
            if is_rejected(trial):
                continue
            consecutive = consecutive + 1 if trial.status == trial_module.TrialStatus.FAILED else 0
            if consecutive == self.max_consecutive_failed_trials:
                raise RuntimeError(f"{consecutive} trials in a row failed (not counting over-budget "
                                   f"configurations); the last error:\n{trial.message or ''}")


ORACLES = {
    "random": keras_tuner.oracles.RandomSearchOracle,
    "grid": keras_tuner.oracles.GridSearchOracle,
    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
    "hyperband": keras_tuner.oracles.HyperbandOracle,
}


def make_oracle(spec: TuneSpec) -> keras_tuner.Oracle:
    base = ORACLES[spec.tuner]
    cls = type(f"Zoo{base.__name__}", (_BudgetAwareOracle, base), {})
    # keras-tuner draws a random seed when given 0, so shift ours by one to stay reproducible.
    kwargs = dict(objective=keras_tuner.Objective(spec.objective, spec.direction), seed=spec.seed + 1,
                  hyperparameters=declare_space(spec, keras_tuner.HyperParameters()),
                  max_retries_per_trial=0, max_consecutive_failed_trials=3, **spec.options)
    if spec.tuner == "hyperband":
        kwargs.setdefault("max_epochs", int(spec.recipe.get("epochs", 1)))
    else:
        kwargs["max_trials"] = None  # enforced by max_trained, which ignores rejections
    oracle = cls(**kwargs)
    oracle.max_trained, oracle.max_rejected = spec.max_trials, spec.max_rejected
    return oracle


class ZooTuner(keras_tuner.Tuner):
    """Runs each trial as: build -> cost -> (reject | train_and_evaluate) -> metrics dict."""

    def __init__(self, spec: TuneSpec, data, num_classes: int, tb_dir: Path, progress: bool = False, **kwargs):
        self.spec, self.data, self.tb_dir, self.progress = spec, data, Path(tb_dir), progress
        self.verbose = 1
        self.zoo_hypermodel = ZooHyperModel(spec, num_classes)
        # No hypermodel for keras-tuner: the space is declared on the oracle, so
        # nothing is built just to discover hyperparameters.
        super().__init__(oracle=make_oracle(spec), hypermodel=None, **kwargs)

    def on_search_begin(self):
        # Save now so that a job killed during its first trial still resumes.
        self.save()

    def search(self, *args, **kwargs):
        self.verbose = kwargs.get("verbose", 1)
        if dist_utils.is_chief_oracle():
            from zoo.tune.distributed import serve_oracle

            self.save()
            serve_oracle(self.oracle)
            return
        super().search(*args, **kwargs)

    def _try_run_and_update_trial(self, trial, *args, **kwargs):
        try:
            self._run_and_update_trial(trial, *args, **kwargs)
            trial.status = trial_module.TrialStatus.COMPLETED
        except OverBudget as err:
            # FAILED, not INVALID: keras-tuner retries INVALID trials, and a cost never changes.
            trial.status, trial.message = trial_module.TrialStatus.FAILED, str(err)
            if self.verbose:
                print(f"{self.tuner_id}: trial {trial.trial_id} rejected: {err}", flush=True)
        except Exception as err:  # as keras-tuner's BaseTuner does
            if isinstance(err, keras_tuner.errors.FatalError):
                raise
            if kt_config.DEBUG:
                traceback.print_exc()
            failed = isinstance(err, keras_tuner.errors.FailedTrialError)
            trial.status = trial_module.TrialStatus.FAILED if failed else trial_module.TrialStatus.INVALID
            trial.message = traceback.format_exc()

    def run_trial(self, trial, *args, **kwargs):
        import keras

        import dataclasses

        from zoo.training import train_and_evaluate

        spec = self.spec
        keras.backend.clear_session()
        keras.utils.set_random_seed(spec.seed)  # initial weights, as the benchmark runner seeds them
        model = self.zoo_hypermodel.build(trial.hyperparameters)
        cost = measure_cost(model, spec.budget, latency=True)
        reasons = spec.budget.violations(cost)
        hparams = knob_values(spec, trial.hyperparameters)
        log_dir = self.tb_dir / f"trial_{trial.trial_id}"
        shutil.rmtree(log_dir, ignore_errors=True)  # a re-run replaces a killed run's events
        if reasons:
            metrics = {spec.objective: math.nan, REJECTED: 1.0, **cost}
            with warnings.catch_warnings():  # keras-tuner takes the nanmax of the NaN objective
                warnings.simplefilter("ignore", RuntimeWarning)
                self.oracle.update_trial(trial.trial_id, metrics)
            write_trial_tensorboard(log_dir, trial.trial_id, hparams, metrics)
            raise OverBudget("over budget, not trained: " + "; ".join(reasons))

        _, side = self.zoo_hypermodel.knobs(trial.hyperparameters)
        train_ds, val_ds = self.data(side)
        recipe = spec.training
        if "tuner/epochs" in trial.hyperparameters.values:  # Hyperband's budget for this round
            recipe = dataclasses.replace(recipe, epochs=int(trial.hyperparameters.values["tuner/epochs"]))
        result = train_and_evaluate(model, train_ds, val_ds, recipe, seed=spec.seed,
                                    log_dir=str(log_dir), progress=self.progress)
        if result["status"] != "ok":  # a diverged loss: never a result, never retried
            raise keras_tuner.errors.FailedTrialError(f"{result['status']}: {result['reason']}")
        metrics = {new: float(result[old]) for old, new in TRAINING_METRICS.items() if result.get(old) is not None}
        metrics.update({REJECTED: 0.0, **cost})
        write_trial_tensorboard(log_dir, trial.trial_id, hparams, metrics)
        self.save_trained(trial.trial_id, model, train_ds.class_names, hparams, metrics)
        if self.verbose:
            print(f"{self.tuner_id}: trial {trial.trial_id} {hparams}: {spec.objective} = "
                  f"{metrics.get(spec.objective)}", flush=True)
        return metrics

    def checkpoint_path(self, trial_id) -> Path:
        return self.tb_dir.parent / "checkpoints" / f"trial_{trial_id}.keras"

    def save_trained(self, trial_id, model, class_names, hparams, metrics) -> Path:
        """Every trained trial's model, as ``zoo bench`` keeps its runs: 0-255 RGB in, class names inside."""
        from zoo.checkpoint import save_checkpoint

        return save_checkpoint(model, self.checkpoint_path(trial_id), class_names=class_names,
                               info={"trial": trial_id, "job": self.spec.name, "model": self.spec.model,
                                     "knobs": hparams, "val_accuracy": metrics.get("val_accuracy")})

    def save_model(self, trial_id, model, step=0):
        pass  # keras-tuner's hook for its own fit loop; run_trial saves through save_trained


def write_trial_tensorboard(log_dir: Path, trial_id: str, hparams: dict[str, Any],
                            metrics: dict[str, float]) -> None:
    """The trial's HParams session (knobs as hparams; accuracy and cost as metrics).

    Same tags as the benchmark runner (top1, params, macs, latency_ms, ...), written with
    TensorBoard's summary API rather than keras-tuner's callback, so it works on any
    Keras backend.
    """
    from zoo.experiment import tensorboard as tb

    bench_names = {"top1": "val_accuracy", "top5": "val_top5", "train_seconds": "train_seconds",
                   **{m: m for m in COST_METRICS}}
    values = {tag: metrics.get(name) for tag, name in bench_names.items()}
    values = {k: v for k, v in values.items() if v is not None and not math.isnan(v)}
    tb.write_run(log_dir, f"trial_{trial_id}", hparams, values)


def write_tensorboard_experiment(tb_dir: Path, spec: TuneSpec) -> None:
    """The experiment's HParams table: each knob's domain (an interval for continuous
    ranges), and the benchmark runner's metrics."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp_api

    from zoo.experiment import tensorboard as tb

    hparams = []
    for name, dim in spec.space.items():
        cands = dim.candidates()
        if cands is not None:
            domain = hp_api.Discrete(list(cands))
        elif dim.integer:
            domain = hp_api.IntInterval(int(dim.min), int(dim.max))
        else:
            domain = hp_api.RealInterval(float(dim.min), float(dim.max))
        hparams.append(hp_api.HParam(name, domain))
    metrics = [hp_api.Metric(tag, display_name=name, description=desc) for tag, name, desc in tb.METRICS]
    Path(tb_dir).mkdir(parents=True, exist_ok=True)
    with tf.summary.create_file_writer(str(tb_dir)).as_default() as writer:
        hp_api.hparams_config(hparams=hparams, metrics=metrics)
        writer.flush()


# --- the job ------------------------------------------------------------------------


class DataCache:
    """Training and evaluation sets per input side, loaded once each."""

    def __init__(self, spec: TuneSpec, data_dir: str | None = None):
        self.spec, self.data_dir = spec, data_dir
        self._cache: dict[int, tuple[Any, Any]] = {}

    def __call__(self, side: int):
        if side not in self._cache:
            self._cache[side] = load_data(self.spec, side, self.data_dir)
        return self._cache[side]


def load_data(spec: TuneSpec, image_size: int, data_dir: str | None = None):
    """The [dataset] section at ``image_size`` pixels (the experiment layer's loader)."""
    from zoo.experiment.dataset import load_splits

    splits = load_splits(spec.dataset, spec.path, data_dir, image_size=image_size)
    return splits.train, splits.val


def project_dir(spec: TuneSpec, runs_dir: str | Path) -> Path:
    return Path(runs_dir) / spec.name


def prepare_project(spec: TuneSpec, runs_dir: str | Path, restart: bool = False) -> Path:
    """The job's working folder; a resumed job must come from the same spec text."""
    root = project_dir(spec, runs_dir)
    stamp = root / "job.json"
    if restart and root.exists():
        shutil.rmtree(root)
    if stamp.exists():
        previous = json.loads(stamp.read_text())
        if previous.get("file_hash") != spec.file_hash:
            raise ValueError(f"{spec.path} changed since the job in {root} started "
                             f"(spec hash {previous.get('file_hash')} -> {spec.file_hash}); "
                             "rerun with --restart to start over, or rename the job")
    else:
        root.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"name": spec.name, "spec": str(spec.path), "file_hash": spec.file_hash,
                                     "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2))
    return root


def make_tuner(spec: TuneSpec, root: Path, num_classes: int, data, progress: bool = False) -> ZooTuner:
    return ZooTuner(spec, data, num_classes, root / "tb", progress=progress,
                    directory=str(root), project_name=KT_PROJECT, overwrite=False)


def preflight(spec: TuneSpec, data_dir: str | None = None, check: bool = True) -> tuple[DataCache, int]:
    """Everything a search checks before it trains: the data (loaded once, cached), the
    objective against the class count, and (``check``) that the budget admits a configuration
    and every searched value builds. Returns the data cache and the class count."""
    from zoo.tune.spec import check_feasible, check_values

    data = DataCache(spec, data_dir)
    train, _ = data(spec.resolutions()[0])  # bad data paths fail here, before any model
    num_classes = int(train.num_classes)
    if spec.objective == "val_top5" and num_classes < TOP5_MIN_CLASSES:
        raise ValueError(f"{spec.path}: objective 'val_top5' needs at least {TOP5_MIN_CLASSES} classes "
                         f"(zoo.training reports no top-5 below that); the data has {num_classes}")
    if check:
        feasible = check_feasible(spec, num_classes)
        check_values(spec, num_classes, feasible["feasible"])
    return data, num_classes


def run_search(spec: TuneSpec, runs_dir: str | Path = "runs/tuning", *, data_dir: str | None = None,
               check: bool = True, restart: bool = False, verbose: int = 1) -> Path:
    """Run (or resume) the search; returns the project folder. Writes no report.

    In keras-tuner's distributed mode (``KERASTUNER_*`` variables set) this process is
    the chief (serves the oracle) or a worker (runs trials), as the variables say.
    """
    import keras

    is_worker = dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()
    data, num_classes = preflight(spec, data_dir, check=check and not is_worker)
    keras.backend.clear_session()
    root = prepare_project(spec, runs_dir, restart=restart and not is_worker)
    if not is_worker:
        write_tensorboard_experiment(root / "tb", spec)
    tuner = make_tuner(spec, root, num_classes, data=data, progress=verbose > 1)
    tuner.search(verbose=verbose)
    return root
