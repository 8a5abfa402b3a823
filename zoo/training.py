"""THE training loop of the zoo: one ``Recipe``, one ``compile_model``, one ``train_and_evaluate``.

``zoo bench`` and ``zoo tune`` both train through this module, so a configuration found
by the tuner means the same thing in a benchmark spec.

Choices worth knowing (timm / torchvision conventions unless said otherwise):

- ``weight_decay`` for sgd, adam and rmsprop is classic coupled L2: ``wd * w`` is added to
  the gradient before momentum, as ``torch.optim.SGD(weight_decay=...)`` does, so the usual
  CIFAR value 5e-4 means what papers mean by it. Keras's own ``weight_decay=`` would be the
  decoupled kind (``w -= lr * wd * w`` after the step), which with momentum 0.9 decays ~10x
  less. For ``adamw`` it is that decoupled kind (Loshchilov & Hutter), typical 0.01-0.05.
  Biases and normalisation parameters (every 1-D variable) are never decayed (timm's default).
- The learning rate is set per step: linear warmup from ~0 over ``warmup_epochs``, then
  cosine to 0 at the last step, constant, or step (x0.1 at 50% and 75% of training, the CIFAR
  ResNet schedule).
- ``bn_momentum`` (default 0.9, torch's 0.1) replaces the models' BatchNormalization
  momentum for training: Keras's 0.99 needs thousands of steps before the moving statistics
  forget their initial values, and short benchmark runs are evaluated with them. Measured:
  resnet20, 5,000 CIFAR-10 images, 4 epochs, identical training: val top1 0.30 at 0.99
  vs 0.46 at 0.9. None keeps each model's own momentum.
- ``batchnorm = "fused"`` trains BatchNormalization on TensorFlow's fused kernel
  (``zoo.layers.fused_batchnorm``): about 1.5x faster steps on CPU, the same function up to
  rounding. The default, ``"keras"``, is what every published row was trained with.
- Reported accuracy is the LAST epoch's validation accuracy, not the best one: picking the
  best epoch on the test split would overstate it.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import keras
from keras import ops

from zoo.common import dataclass_from_table, invalid

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("cosine", "constant", "step")
AUGMENTS = ("auto", "none", "cifar", "imagenet")
STEP_MILESTONES = (0.5, 0.75)  # fractions of all steps (He et al. 2016: epochs 91 and 136 of 182)
STEP_FACTOR = 0.1
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # float32: every published table
BATCHNORMS = ("keras", "fused")  # keras: every published table (zoo.layers.fused_batchnorm says why)
DIVERGED = "diverged"  # the status of a run whose loss became NaN or infinite
TOP5_MIN_CLASSES = 11  # top-5 accuracy says little with 10 classes or fewer


# --- the recipe ---------------------------------------------------------------------------


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class Recipe:
    """How to train: optimizer, schedule, regularisation and augmentation (see module doc)."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    learning_rate: float = 0.05  # peak value, reached after warmup
    momentum: float = 0.9  # sgd and rmsprop
    nesterov: bool = True  # sgd
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augment: str = "auto"
    bn_momentum: float | None = 0.9  # Keras convention (moving = m * moving + (1 - m) * batch)
    head_epochs: int = 0  # fine-tuning: epochs that train only the new head (backbone frozen) first
    precision: str = "float32"  # Keras dtype policy the model is built under; mixed_* for GPUs
    # "fused": BatchNorm trains on TensorFlow's fused kernel (zoo.layers.fused_batchnorm), ~1.5x
    # faster on CPU, equal up to rounding; "keras": Keras 3's composite ops, bit for bit as published.
    batchnorm: str = "keras"

    # field -> (check, allowed), in the zoo.common.invalid() format.
    _RULES = {
        "epochs": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        "batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        "optimizer": (lambda v: v in OPTIMIZERS, f"one of {list(OPTIMIZERS)}"),
        "learning_rate": (lambda v: _is_number(v) and v > 0, "a number > 0"),
        "momentum": (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
        "nesterov": (lambda v: isinstance(v, bool), "true or false"),
        "weight_decay": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        "schedule": (lambda v: v in SCHEDULES, f"one of {list(SCHEDULES)}"),
        "warmup_epochs": (lambda v: _is_number(v) and v >= 0, "a number >= 0 and below epochs"),
        "label_smoothing": (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
        "augment": (lambda v: v in AUGMENTS, f"one of {list(AUGMENTS)}"),
        "bn_momentum": (lambda v: v is None or (_is_number(v) and 0 <= v < 1), "None or a number in [0, 1)"),
        "head_epochs": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 and below epochs (fine-tuning only)"),
        "precision": (lambda v: v in PRECISIONS, f"one of {list(PRECISIONS)}"),
        "batchnorm": (lambda v: v in BATCHNORMS, f"one of {list(BATCHNORMS)}"),
    }

    def __post_init__(self):
        for f in fields(self):
            check, allowed = self._RULES[f.name]
            value = getattr(self, f.name)
            if not check(value):
                raise invalid("Recipe", f.name, value, allowed)
        if self.head_epochs and self.head_epochs >= self.epochs:
            raise invalid("Recipe", "head_epochs", self.head_epochs,
                          f"an integer >= 0 and below epochs={self.epochs} (the rest trains the whole network)")
        if self.warmup_epochs >= self.epochs:
            raise invalid("Recipe", "warmup_epochs", self.warmup_epochs,
                          f"a number >= 0 and below epochs={self.epochs}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str) -> Recipe:
        """Build from a spec-file table; errors name ``source`` and the offending key."""
        return dataclass_from_table(cls, d, source, "recipe")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- optimizer, schedule, loss --------------------------------------------------------------


@keras.saving.register_keras_serializable(package="zoo")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Per-step learning rate: linear warmup to ``peak``, then cosine / constant / step."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int = 0, kind: str = "cosine"):
        if kind not in SCHEDULES:
            raise invalid("WarmupSchedule", "kind", kind, f"one of {list(SCHEDULES)}")
        self.peak = float(peak)
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = max(0, min(int(warmup_steps), self.total_steps - 1))
        self.kind = kind

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = float(self.warmup_steps)
        main = float(self.total_steps - self.warmup_steps)
        progress = ops.clip((step - warm) / main, 0.0, 1.0)
        if self.kind == "cosine":
            lr = 0.5 * self.peak * (1.0 + ops.cos(math.pi * progress))
        elif self.kind == "step":
            passed = sum(ops.cast(progress >= m, "float32") for m in STEP_MILESTONES)
            lr = self.peak * ops.power(STEP_FACTOR, passed)
        else:
            lr = self.peak * ops.ones_like(progress)
        if self.warmup_steps:
            lr = ops.where(step < warm, self.peak * (step + 1.0) / (warm + 1.0), lr)
        return lr

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "kind": self.kind}


def _replicas_in_sync() -> int:
    """How many replicas a train step's gradients are summed over (1 without tf.distribute)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_replica_context().num_replicas_in_sync if tf.distribute.has_strategy() else 1


class _CoupledL2:
    """Mixin: add ``l2 * w`` to the gradient of every decayed (>= 2-D) variable, before the update."""

    def __init__(self, *args, l2: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.l2 = float(l2)

    # Keras' private hook, the one place the zoo overrides a private Keras API: it is where
    # every backend's apply() passes the (already unscaled, clipped) gradients, and Keras 3 has
    # no public gradient-transform option. Checked against Keras 3.15.1.
    # Under a tf.distribute strategy it runs on each replica before the gradients are summed
    # across replicas (each replica's loss already divided by their number): so is l2 here.
    def _backend_apply_gradients(self, grads, trainable_variables):
        if self.l2:
            l2 = self.l2 / _replicas_in_sync()
            grads = [g + ops.cast(l2, g.dtype) * v if len(v.shape) > 1 else g
                     for g, v in zip(grads, trainable_variables)]
        return super()._backend_apply_gradients(grads, trainable_variables)

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}


@keras.saving.register_keras_serializable(package="zoo")
class L2SGD(_CoupledL2, keras.optimizers.SGD):
    """SGD with torch-style (coupled) weight decay."""


@keras.saving.register_keras_serializable(package="zoo")
class L2Adam(_CoupledL2, keras.optimizers.Adam):
    """Adam with torch-style (coupled) weight decay."""


@keras.saving.register_keras_serializable(package="zoo")
class L2RMSprop(_CoupledL2, keras.optimizers.RMSprop):
    """RMSprop with torch-style (coupled) weight decay."""


def make_schedule(recipe: Recipe, steps_per_epoch: int) -> WarmupSchedule:
    return WarmupSchedule(recipe.learning_rate, recipe.epochs * steps_per_epoch,
                          round(recipe.warmup_epochs * steps_per_epoch), recipe.schedule)


def make_optimizer(recipe: Recipe, schedule, model=None) -> keras.optimizers.Optimizer:
    wd = recipe.weight_decay
    if recipe.optimizer == "sgd":
        return L2SGD(schedule, momentum=recipe.momentum, nesterov=recipe.nesterov, l2=wd)
    if recipe.optimizer == "adam":
        return L2Adam(schedule, l2=wd)
    if recipe.optimizer == "rmsprop":
        return L2RMSprop(schedule, momentum=recipe.momentum, l2=wd)
    opt = keras.optimizers.AdamW(schedule, weight_decay=wd)
    if model is not None:
        opt.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables if len(v.shape) <= 1])
    return opt


def outputs_probabilities(model) -> bool:
    """True when the model ends in a softmax (keras.applications default), False for logits."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    return getattr(getattr(last, "activation", None), "__name__", "") == "softmax"


@keras.saving.register_keras_serializable(package="zoo")
class SmoothedSparseCrossEntropy(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing (Keras's sparse loss has none)."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, from_logits: bool = False,
                 name: str = "smoothed_sparse_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes, self.label_smoothing, self.from_logits = num_classes, label_smoothing, from_logits

    def call(self, y_true, y_pred):
        one_hot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, from_logits=self.from_logits,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing, "from_logits": self.from_logits}


def _all_layers(layer):
    for sub in getattr(layer, "layers", ()):
        yield sub
        yield from _all_layers(sub)


def set_bn_momentum(model, momentum: float | None) -> int:
    """Set every BatchNormalization layer's momentum (nested models too); returns how many."""
    if momentum is None:
        return 0
    norms = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = float(momentum)  # read when the train step is traced, i.e. after compile
    return len(norms)


def compile_model(model, recipe: Recipe, *, steps_per_epoch: int, num_classes: int) -> None:
    """Compile with the recipe's optimizer and schedule, cross-entropy, top1 (and top5 when > 10
    classes), after setting the recipe's BatchNormalization momentum on the model."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a zoo.training.Recipe, got {type(recipe).__name__}")
    if not _is_int(steps_per_epoch) or steps_per_epoch < 1:
        raise invalid("compile_model", "steps_per_epoch", steps_per_epoch, "an integer >= 1")
    if not _is_int(num_classes) or num_classes < 2:
        raise invalid("compile_model", "num_classes", num_classes, "an integer >= 2")
    from_logits = not outputs_probabilities(model)
    if recipe.label_smoothing:
        loss = SmoothedSparseCrossEntropy(num_classes, recipe.label_smoothing, from_logits)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="top1")]
    if num_classes >= TOP5_MIN_CLASSES:
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))
    set_bn_momentum(model, recipe.bn_momentum)
    if recipe.batchnorm == "fused":
        from zoo.layers.fused_batchnorm import use_fused_batchnorm

        use_fused_batchnorm(model)
    optimizer = make_optimizer(recipe, make_schedule(recipe, steps_per_epoch), model)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)


# --- training -------------------------------------------------------------------------------


class _TrainClock(keras.callbacks.Callback):
    """Seconds spent in training batches per epoch (from epoch start to its last train batch)."""

    def __init__(self):
        super().__init__()
        self.epoch_seconds: list[float] = []
        self.steps = 0  # optimizer steps taken: every worker of a multi-worker run takes the same number

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._last = time.perf_counter()
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(self._last - self._start)


class _FlushedTensorBoard(keras.callbacks.TensorBoard):
    """Keras's TensorBoard callback, its epoch scalars flushed at once: a run killed later and
    resumed from its backup then has every finished epoch in its logs."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        for writer in self._writers.values():  # private in Keras 3.15.1; writers open so far
            writer.flush()


_STOP = {"requested": False}


def request_stop() -> None:
    """Ask the training loop to stop at the next batch with KeyboardInterrupt (SIGTERM's path).

    A signal handler's own exception can be lost when the signal lands inside a garbage-
    collector callback (seen with JAX's); the flag makes sure the stop still happens.
    """
    _STOP["requested"] = True


class _StopWhenRequested(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if _STOP["requested"]:
            raise KeyboardInterrupt


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stop at the first batch whose loss is NaN or infinite (a diverged run), and say where.

    Keras' TerminateOnNaN stops too but leaves no record; the runner needs the reason to
    mark the run failed instead of reporting its chance-level accuracy as a result.
    """

    def __init__(self):
        super().__init__()
        self.reason = ""
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.reason = f"training loss became {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}"
            self.model.stop_training = True


@contextlib.contextmanager
def distributed_fit(model, train_ds):
    """What ``model.fit(train_ds)`` needs under a tf.distribute strategy to compute what it
    computes without one (a no-op without a strategy: the default path is untouched).

    - Keras 3.15.1's fit under a strategy first draws a batch from ``train_ds`` to build the
      model state from its shapes. That starts a pass over the pipeline, which reshuffles and
      re-augments on every pass, so every epoch would train on the order of the next one. The
      model is built from ``train_ds.element_spec`` instead (over several workers the drawn
      batch is also MEAN-reduced, which ``strategy.reduce`` refuses for a tuple). Keras' private
      ``_maybe_symbolic_build`` / ``_symbolic_build``: the second place the zoo touches a private
      Keras API (see _CoupledL2), checked against Keras 3.15.1.
    - With several replicas, BatchNormalization normalises with the statistics of the whole
      global batch (Keras' ``synchronized``, all-reduced per layer), so that splitting a batch
      does not change what a layer computes. Keras reads the flag when the train step is traced;
      it is cleared afterwards so a saved checkpoint loads on every backend (JAX refuses it).
    - Over several workers Keras reduces each step's scalar logs with ``axis=0``, which fails
      (tensorflow/tensorflow#72388). Each train/test step (the public override points) returns
      them as 1-element vectors, which that reduction averages over the replicas: the same
      value on every worker, so StopOnNonFiniteLoss stops all of them at one batch. The epoch's
      values, the ones a row reports, are Keras' metrics read across replicas: totals over the
      whole global batch, as in one process.
    """
    strategy = None
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    if strategy is None:
        yield
        return
    norms = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)
             and not layer.synchronized] if strategy.num_replicas_in_sync > 1 else []
    other_workers = strategy.num_replicas_in_sync > len(strategy.extended.worker_devices)
    spec = train_ds.element_spec

    def build_from_spec(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=spec)

    model._maybe_symbolic_build = build_from_spec
    if other_workers:
        model.train_step, model.test_step = _vector_logs(model.train_step), _vector_logs(model.test_step)
    for layer in norms:
        layer.synchronized = True
    try:
        yield
    finally:
        for layer in norms:
            layer.synchronized = False
        del model._maybe_symbolic_build
        if other_workers:
            del model.train_step, model.test_step


def _vector_logs(step):
    def step_with_vector_logs(data):
        return keras.tree.map_structure(lambda v: ops.reshape(v, (1,)) if len(v.shape) == 0 else v, step(data))

    return step_with_vector_logs


def set_determinism(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and the backend; on TensorFlow also make ops deterministic.

    Op determinism is process-wide and stays on once enabled. Measured with
    ``benchmarks/input_pipeline.py --determinism`` (resnet20, batch 128, 2 busy CPU cores):
    281 vs 290 ms of CPU time per step, off vs on (~3%, near the noise), so it is the default.
    Without it, repeated CPU runs in one process still matched in our tests; GPUs need it.
    """
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _channels_first() -> bool:
    return keras.config.image_data_format() == "channels_first"


def _as_data_format(hwc: tuple[int, int, int]) -> tuple[int, int, int]:
    return (hwc[2], hwc[0], hwc[1]) if _channels_first() else tuple(hwc)


def _to_data_format(ds):
    """The pipeline yields NHWC; transpose for a model built channels_first."""
    if not _channels_first():
        return ds
    import tensorflow as tf

    return ds.map(lambda x, y: (tf.transpose(x, [0, 3, 1, 2]), y), num_parallel_calls=tf.data.AUTOTUNE)


def _scaled(ds, raw_pixels: bool):
    """``raw_pixels``: 0-255 floats for a model whose first layer scales its input (a checkpoint)."""
    return ds.map(lambda x, y: (x * 255.0, y)) if raw_pixels else ds


def check_compatible(model, train, val) -> None:
    """Raise before any training when the model and the datasets do not fit together."""
    if train.class_names != val.class_names:
        raise ValueError(f"train and val have different classes: {train.class_names[:5]}... vs "
                         f"{val.class_names[:5]}...; load both with the same Subset(classes=...)")
    if train.image_shape != val.image_shape:
        raise ValueError(f"train images are {train.image_shape} but val images are {val.image_shape}; "
                         f"load both with the same image_size")
    expected = tuple(model.input_shape[1:])
    given = _as_data_format(train.image_shape)
    if len(expected) != 3 or any(e is not None and e != s for e, s in zip(expected, given)):
        raise ValueError(f"model {model.name!r} expects inputs {expected} but the images are "
                         f"{given}; build it with input_shape={given} or load the data with a "
                         f"matching image_size")
    units = model.output_shape[-1]
    if units != train.num_classes:
        raise ValueError(f"model {model.name!r} has {units} outputs but the dataset has "
                         f"{train.num_classes} classes; build it with num_classes={train.num_classes}")


def train_and_evaluate(model, train, val, recipe: Recipe, *, seed: int, log_dir: str | None = None,
                       callbacks: Sequence[keras.callbacks.Callback] = (), progress: bool = True,
                       deterministic: bool = True, raw_pixels: bool = False,
                       backup: str | Path | None = None) -> dict[str, Any]:
    """Train ``model`` on ``train`` with ``recipe``, validating on ``val`` every epoch.

    Returns a flat dict: status ("ok", or DIVERGED with every accuracy None and ``reason``
    saying where the loss stopped being finite: training stops there), top1, top5 (None for <= 10 classes), val_loss (last epoch),
    train_loss, train_top1 (last epoch, on augmented data), epochs, train_steps, train_seconds (wall
    time of fit, validation included) and images_per_second (training batches only,
    excluding the first epoch's tracing when there is more than one). With ``log_dir``,
    per-epoch train and validation scalars go to TensorBoard (``log_dir/train``,
    ``log_dir/validation``). ``progress``: Keras's per-step bar with ETA in a terminal, one
    line per epoch when output goes to a file. A KeyboardInterrupt propagates to the caller.
    Call ``set_determinism(seed)`` before building ``model`` for repeatable initial weights.

    ``backup``: a folder for a per-epoch backup (``zoo.resume``). When it holds one of this
    configuration, training resumes after its last epoch, with the result an uninterrupted run
    gives; an unusable one is ignored with a warning (and ``log_dir``'s scalars are cleared).
    Remove it (``zoo.resume.remove``) once the result is stored.
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a zoo.training.Recipe, got {type(recipe).__name__}")
    if not _is_int(seed):
        raise invalid("train_and_evaluate", "seed", seed, "an integer")
    check_compatible(model, train, val)
    set_determinism(seed, deterministic)

    batch_size = recipe.batch_size
    # Drop the ragged last batch when there is a full one: a tiny batch makes BatchNorm noisy.
    drop_remainder = train.num_examples >= batch_size
    steps = train.num_examples // batch_size if drop_remainder else 1
    images_per_epoch = steps * batch_size if drop_remainder else train.num_examples
    train_ds = _to_data_format(_scaled(train.pipeline(batch_size, training=True, seed=seed, augment=recipe.augment,
                                                      drop_remainder=drop_remainder, normalize=not raw_pixels),
                                       raw_pixels))
    val_ds = _to_data_format(_scaled(val.pipeline(batch_size, training=False, normalize=not raw_pixels), raw_pixels))
    compile_model(model, recipe, steps_per_epoch=steps, num_classes=train.num_classes)

    clock, guard = _TrainClock(), StopOnNonFiniteLoss()
    all_callbacks = [clock, guard, _StopWhenRequested(), *callbacks]
    restored = keeper = None
    if backup is not None:
        from zoo import resume

        recipe_identity = recipe.to_dict()
        if recipe.batchnorm == "keras":  # as before the key existed: those backups stay usable
            del recipe_identity["batchnorm"]
        identity = {"epochs": recipe.epochs, "recipe": recipe_identity, "seed": seed, "steps": steps,
                    "train": [train.fingerprint, train.num_examples], "model": model.name,
                    "raw_pixels": raw_pixels, "deterministic": deterministic}
        had_backup = resume.has_backup(backup)
        restored = resume.load(backup, model, identity)
        if restored is not None:
            resume.fast_forward(train_ds, restored.epoch)
        elif had_backup and log_dir is not None:  # the unusable attempt's scalars would mix with these
            for part in ("train", "validation"):
                shutil.rmtree(Path(log_dir) / part, ignore_errors=True)
        keeper = resume.EpochBackup(backup, identity, clock, restored)
    if log_dir is not None:
        all_callbacks.append(_FlushedTensorBoard(str(log_dir), write_graph=False, update_freq="epoch",
                                                 profile_batch=0))
    if keeper is not None:
        all_callbacks.append(keeper)  # last: an epoch is backed up after everything else saw it
    verbose = (1 if sys.stdout.isatty() else 2) if progress else 0
    first = restored.epoch if restored else 0
    start = time.perf_counter()
    if first < recipe.epochs:
        with distributed_fit(model, train_ds):  # a no-op without a tf.distribute strategy
            history = model.fit(train_ds, validation_data=val_ds, epochs=recipe.epochs, initial_epoch=first,
                                verbose=verbose, callbacks=all_callbacks,
                                shuffle=False).history  # the pipeline shuffles, seeded
    else:  # every epoch had finished (the interruption came before the result was stored)
        history = {}
    train_seconds = time.perf_counter() - start

    timed = clock.epoch_seconds[1:] if len(clock.epoch_seconds) > 1 else clock.epoch_seconds
    if restored is not None:  # the earlier attempts' epochs, then this one's
        history = {key: restored.history.get(key, []) + list(history.get(key, []))
                   for key in {*restored.history, *history}}
        timed = restored.timed_seconds + clock.epoch_seconds[1:] or timed
        train_seconds += restored.train_seconds
    last = {key: values[-1] for key, values in history.items()}
    reason = guard.reason or next((f"{key} became {values[-1]} after epoch {len(values)}"
                                   for key, values in history.items() if key.endswith("loss")
                                   and not math.isfinite(float(values[-1]))), "")
    if reason:  # diverged: no accuracy of this run is a result
        return {"status": DIVERGED, "reason": reason, "top1": None, "top5": None, "val_loss": None,
                "train_loss": None, "train_top1": None, "epochs": len(history.get("loss", [])),
                "train_steps": clock.steps, "train_seconds": train_seconds,
                "images_per_second": images_per_epoch * len(timed) / max(sum(timed), 1e-9) if timed else None}
    return {
        "status": "ok", "reason": "",
        "top1": float(last["val_top1"]),
        "top5": float(last["val_top5"]) if "val_top5" in last else None,
        "val_loss": float(last["val_loss"]),
        "train_loss": float(last["loss"]),
        "train_top1": float(last["top1"]),
        "epochs": len(history["loss"]),
        "train_steps": clock.steps,
        "train_seconds": train_seconds,
        "images_per_second": images_per_epoch * len(timed) / max(sum(timed), 1e-9),
    }


# --- fine-tuning ------------------------------------------------------------------------------


def with_new_head(backbone, num_classes: int, *, dropout: float = 0.0, name: str | None = None):
    """``backbone`` (pooled features out: ``include_top=False, pooling="avg"``) + a fresh
    ``Dense(num_classes, softmax)`` head named ``finetune_head``."""
    if len(backbone.output_shape) != 2:
        raise ValueError(f"{backbone.name}: fine-tuning needs pooled features (build it with include_top=False, "
                         f"pooling='avg'), got output shape {backbone.output_shape}")
    inputs = keras.Input(backbone.input_shape[1:], name="image")
    x = backbone(inputs)
    if dropout:
        x = keras.layers.Dropout(dropout, name="finetune_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="finetune_head")(x)
    return keras.Model(inputs, outputs, name=name or f"{backbone.name}_finetuned")


def fine_tune(model, backbone, train, val, recipe: Recipe, *, seed: int, log_dir: str | None = None,
              progress: bool = True, raw_pixels: bool = True, backup: str | Path | None = None) -> dict[str, Any]:
    """Fine-tune ``model`` (``with_new_head(backbone, ...)``) through ``train_and_evaluate``:
    ``recipe.head_epochs`` epochs with ``backbone`` frozen (its BatchNorm layers then run in
    inference mode, as the Keras transfer-learning guide does), then the remaining epochs
    with every layer trainable, each phase with its own warmup and schedule.

    Returns the last phase's metrics, plus ``head_top1`` (after the head phase) and
    ``epochs`` counting both phases. A diverged head phase ends the run there. ``backup``:
    each phase backs up to its own sub-folder (``head``, ``full``), so either resumes.
    """
    import dataclasses

    head_metrics = None
    if recipe.head_epochs:
        backbone.trainable = False
        head_recipe = dataclasses.replace(recipe, epochs=recipe.head_epochs, head_epochs=0,
                                          warmup_epochs=min(recipe.warmup_epochs, recipe.head_epochs - 1))
        head_metrics = train_and_evaluate(model, train, val, head_recipe, seed=seed, progress=progress,
                                          log_dir=None if log_dir is None else f"{log_dir}/head", raw_pixels=raw_pixels,
                                          backup=None if backup is None else Path(backup) / "head")
        backbone.trainable = True
        if head_metrics["status"] != "ok":
            return {**head_metrics, "head_top1": None}
    rest = recipe.epochs - recipe.head_epochs
    full_recipe = dataclasses.replace(recipe, epochs=rest, head_epochs=0,
                                      warmup_epochs=min(recipe.warmup_epochs, rest - 1))
    metrics = train_and_evaluate(model, train, val, full_recipe, seed=seed + 1 if head_metrics else seed,
                                 progress=progress, log_dir=log_dir, raw_pixels=raw_pixels,
                                 backup=None if backup is None else Path(backup) / "full")
    metrics["head_top1"] = head_metrics["top1"] if head_metrics else None
    metrics["epochs"] = metrics["epochs"] + (head_metrics["epochs"] if head_metrics else 0)
    if head_metrics:
        metrics["train_seconds"] = metrics["train_seconds"] + head_metrics["train_seconds"]
        metrics["train_steps"] = metrics["train_steps"] + head_metrics["train_steps"]
    return metrics


# --- precision --------------------------------------------------------------------------------


def build_with_precision(precision: str, build):
    """``build()`` under the Keras dtype policy ``precision``, the global policy restored after.

    Layers take their policy when they are created, so the model must be built inside. With a
    mixed policy the outputs are cast back to float32 (Keras' mixed-precision guide: the loss
    and softmax stay in full precision); ``compile`` then adds loss scaling for mixed_float16.
    """
    if precision not in PRECISIONS:
        raise invalid("build_with_precision", "precision", precision, f"one of {list(PRECISIONS)}")
    if precision == "float32":
        return build()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        model = build()
    finally:
        keras.config.set_dtype_policy(previous)
    if keras.backend.standardize_dtype(model.output.dtype) == "float32":
        return model
    outputs = keras.layers.Activation("linear", dtype="float32", name="float32_outputs")(model.output)
    return keras.Model(model.inputs, outputs, name=model.name)
