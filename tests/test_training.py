"""zoo.training: recipe checks, schedules, coupled weight decay, and a real 2-epoch run."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from zoo.data import load_dataset
from zoo.training import (L2SGD, Recipe, WarmupSchedule, compile_model, set_determinism,
                          train_and_evaluate)

SIZE = 8


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Two separable classes (dark vs bright noise), 16 train and 4 val images each."""
    root: Path = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for split, n in (("train", 16), ("val", 4)):
        for label, base in enumerate((40, 180)):
            for i in range(n):
                pixels = np.clip(base + rng.normal(0, 30, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
                path = root / split / f"class {label}" / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)
    return load_dataset(root, split="train"), load_dataset(root, split="test")


def tiny_model(num_classes: int = 2, activation: str | None = "softmax") -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation=activation)(x))


# --- recipe --------------------------------------------------------------------------------


def test_recipe_from_dict_and_errors():
    recipe = Recipe.from_dict({"epochs": 3, "optimizer": "adamw", "learning_rate": 1}, "spec.toml [recipe]")
    assert (recipe.epochs, recipe.optimizer, recipe.learning_rate) == (3, "adamw", 1)
    with pytest.raises(ValueError, match=r"spec\.toml \[recipe\]: unknown recipe key 'lr'.*allowed: \["):
        Recipe.from_dict({"lr": 0.1}, "spec.toml [recipe]")
    with pytest.raises(ValueError, match=r"did you mean 'momentum'"):
        Recipe.from_dict({"momentun": 0.9}, "s")
    bad = {"optimizer": "sgdd", "epochs": 0, "batch_size": 2.5, "learning_rate": -1, "momentum": 1.0,
           "nesterov": "yes", "schedule": "linear", "label_smoothing": 1.0, "augment": "flip",
           "weight_decay": float("nan")}
    for key, value in bad.items():
        with pytest.raises(ValueError, match=rf"s: Recipe: invalid {key}=.*; allowed: "):
            Recipe.from_dict({key: value}, "s")
    with pytest.raises(ValueError, match=r"warmup_epochs=5.*below epochs=5"):
        Recipe(epochs=5, warmup_epochs=5)
    with pytest.raises(TypeError, match="table/dict"):
        Recipe.from_dict([("epochs", 1)], "s")


# --- schedule and optimizer ----------------------------------------------------------------


def _lr(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_cosine_schedule_with_warmup():
    schedule = WarmupSchedule(0.1, total_steps=100, warmup_steps=10, kind="cosine")
    warm = [_lr(schedule, s) for s in range(10)]
    assert warm[0] < 0.02 and all(a < b for a, b in zip(warm, warm[1:])) and warm[-1] < 0.1
    assert _lr(schedule, 10) == pytest.approx(0.1)
    main = [_lr(schedule, s) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(main, main[1:]))
    assert _lr(schedule, 55) == pytest.approx(0.05, rel=1e-4)  # half way through the cosine
    assert _lr(schedule, 99) < 1e-4 and _lr(schedule, 100) == pytest.approx(0.0, abs=1e-9)


def test_step_and_constant_schedules():
    step = WarmupSchedule(1.0, total_steps=100, kind="step")
    assert [_lr(step, s) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    constant = WarmupSchedule(0.3, total_steps=10, kind="constant")
    assert {round(_lr(constant, s), 6) for s in range(10)} == {0.3}


def test_sgd_weight_decay_is_coupled_l2_and_skips_1d_variables():
    kernel = keras.Variable(np.full((2, 2), 2.0, np.float32))
    bias = keras.Variable(np.full((2,), 2.0, np.float32))
    optimizer = L2SGD(learning_rate=0.1, momentum=0.0, l2=0.5)
    optimizer.apply([np.zeros((2, 2), np.float32), np.zeros((2,), np.float32)], [kernel, bias])
    # w - lr * (grad + l2 * w) = 2 - 0.1 * 0.5 * 2
    assert np.allclose(keras.ops.convert_to_numpy(kernel), 1.9)
    assert np.allclose(keras.ops.convert_to_numpy(bias), 2.0)


def test_bn_momentum_is_set_for_training_unless_none():
    model = tiny_model()
    compile_model(model, Recipe(bn_momentum=None), steps_per_epoch=1, num_classes=2)
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert norm.momentum == 0.99  # the Keras default, untouched
    compile_model(model, Recipe(), steps_per_epoch=1, num_classes=2)
    assert norm.momentum == 0.9
    with pytest.raises(ValueError, match="bn_momentum=1.0"):
        Recipe(bn_momentum=1.0)


def test_top5_only_above_ten_classes():
    model = tiny_model(num_classes=12)
    compile_model(model, Recipe(), steps_per_epoch=1, num_classes=12)
    logs = model.evaluate(np.zeros((2, SIZE, SIZE, 3), np.float32), np.array([0, 1]), verbose=0,
                          return_dict=True)
    assert {"top1", "top5"} <= set(logs)


# --- the training loop ------------------------------------------------------------------------


def _run(tiny_data, seed, **kw):
    train, val = tiny_data
    set_determinism(seed)  # before building: the initial weights come from the seed too
    model = tiny_model()
    recipe = Recipe(epochs=2, batch_size=8, learning_rate=0.1, warmup_epochs=0.5, label_smoothing=0.1)
    return train_and_evaluate(model, train, val, recipe, seed=seed, progress=False, **kw)


def test_train_and_evaluate_metrics_and_tensorboard(tiny_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = _run(tiny_data, seed=0, log_dir=str(tmp_path / "tb"))
    assert result["epochs"] == 2 and result["top5"] is None
    for key in ("top1", "val_loss", "train_loss", "train_top1", "train_seconds", "images_per_second"):
        assert math.isfinite(result[key]), key
    assert 0 <= result["top1"] <= 1 and result["images_per_second"] > 0
    for split in ("train", "validation"):
        events = EventAccumulator(str(tmp_path / "tb" / split), size_guidance={"tensors": 0}).Reload()
        tags = events.Tags()["tensors"] + events.Tags()["scalars"]
        assert {"epoch_loss", "epoch_top1"} <= set(tags), (split, tags)
        assert [e.step for e in events.Tensors("epoch_loss")] == [0, 1]

    # Same seed, same numbers.
    again = _run(tiny_data, seed=0)
    assert (again["top1"], again["val_loss"], again["train_loss"]) == \
        (result["top1"], result["val_loss"], result["train_loss"])


def test_incompatible_model_fails_before_training(tiny_data):
    train, val = tiny_data
    with pytest.raises(ValueError, match="3 outputs but the dataset has 2 classes"):
        train_and_evaluate(tiny_model(num_classes=3), train, val, Recipe(epochs=1), seed=0, progress=False)
    with pytest.raises(TypeError, match="Recipe"):
        train_and_evaluate(tiny_model(), train, val, {"epochs": 1}, seed=0, progress=False)


def test_ctrl_c_reaches_the_caller(tiny_data):
    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise KeyboardInterrupt

    train, val = tiny_data
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(tiny_model(), train, val, Recipe(epochs=1, batch_size=8), seed=0,
                           callbacks=[Interrupt()], progress=False)


def test_frozen_backbone_keeps_its_weights_and_batchnorm_statistics():
    """The head phase of fine-tuning: with the backbone frozen only the head learns, and its
    BatchNorm layers run in inference mode (moving statistics untouched)."""
    import numpy as np

    import zoo
    from zoo.data import ImageDataset
    from zoo.training import Recipe, train_and_evaluate, with_new_head

    rng = np.random.default_rng(0)
    data = ImageDataset(rng.integers(0, 255, (48, 16, 16, 3), dtype=np.uint8), np.arange(48) % 3,
                        ["a", "b", "c"], source="memory", fingerprint="t")
    backbone = zoo.build("convnet", width=0.25, input_shape=(16, 16, 3), include_top=False, pooling="avg")
    model = with_new_head(backbone, 3)
    before = [np.array(w) for w in backbone.weights]
    head_before = [np.array(w) for w in model.get_layer("finetune_head").weights]
    backbone.trainable = False
    metrics = train_and_evaluate(model, data, data, Recipe(epochs=1, batch_size=16), seed=0, progress=False)
    assert metrics["status"] == "ok"
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(before, backbone.weights))
    assert any(not np.array_equal(a, np.array(b)) for a, b in zip(head_before, model.get_layer("finetune_head").weights))


def test_mixed_bfloat16_builds_and_trains_with_float32_outputs():
    """recipe precision = "mixed_bfloat16": layers compute in bfloat16, outputs and loss stay float32,
    the global policy is restored, and a bad value names the allowed ones."""
    import numpy as np
    import pytest

    import zoo
    from zoo.data import ImageDataset
    from zoo.training import Recipe, build_with_precision, train_and_evaluate

    model = build_with_precision("mixed_bfloat16", lambda: zoo.build("convnet", width=0.25, input_shape=(16, 16, 3),
                                                                      num_classes=3))
    assert keras.config.dtype_policy().name == "float32"
    assert any(layer.compute_dtype == "bfloat16" for layer in model.layers)
    assert keras.backend.standardize_dtype(model.output.dtype) == "float32"
    rng = np.random.default_rng(0)
    data = ImageDataset(rng.integers(0, 255, (48, 16, 16, 3), dtype=np.uint8), np.arange(48) % 3,
                        ["a", "b", "c"], source="memory", fingerprint="t")
    metrics = train_and_evaluate(model, data, data, Recipe(epochs=1, batch_size=16, precision="mixed_bfloat16"),
                                 seed=0, progress=False)
    assert metrics["status"] == "ok" and 0 <= metrics["top1"] <= 1
    with pytest.raises(ValueError, match=r"precision='float8'; allowed: one of \['float32'"):
        Recipe(precision="float8")


# --- per-epoch resume (zoo.resume; the SIGKILL test is in test_bench_runner.py) -------------------


@pytest.fixture(scope="module")
def uninterrupted(tiny_data, tmp_path_factory):
    """``_run``'s result for seed 0, and the finished backup of a seed-1 run."""
    folder = tmp_path_factory.mktemp("seed1")
    _run(tiny_data, seed=1, backup=folder)
    return _run(tiny_data, seed=0), folder / "backup.npz"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other configuration"])
def test_unusable_backup_is_ignored_with_a_warning_and_the_run_starts_over(tiny_data, uninterrupted, tmp_path,
                                                                          damage):
    reference, other = uninterrupted
    backup = tmp_path / "backup" / "backup.npz"
    backup.parent.mkdir()
    backup.write_bytes({"garbage": b"not a backup", "truncated": other.read_bytes()[: other.stat().st_size // 2],
                        "other configuration": other.read_bytes()}[damage])
    stale = tmp_path / "tb" / "train" / "events.out.tfevents.stale"  # the unusable attempt's scalars
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    with pytest.warns(UserWarning, match=r"ignoring the backup .*backup\.npz .*the run starts from scratch"):
        result = _run(tiny_data, seed=0, backup=backup.parent, log_dir=str(tmp_path / "tb"))
    assert result["epochs"] == 2 and not stale.exists()
    assert (result["top1"], result["val_loss"], result["train_loss"]) == \
        (reference["top1"], reference["val_loss"], reference["train_loss"])


def _fine_tune(backup=None):
    import zoo
    from zoo.data import ImageDataset
    from zoo.training import fine_tune, with_new_head

    rng = np.random.default_rng(0)
    data = ImageDataset(rng.integers(0, 255, (24, 16, 16, 3), dtype=np.uint8), np.arange(24) % 3,
                        ["a", "b", "c"], source="memory", fingerprint="t")
    set_determinism(0)
    backbone = zoo.build("convnet", width=0.25, input_shape=(16, 16, 3), include_top=False, pooling="avg")
    model = with_new_head(backbone, 3, dropout=0.5)
    recipe = Recipe(epochs=4, head_epochs=2, batch_size=8, warmup_epochs=1)
    metrics = fine_tune(model, backbone, data, data, recipe, seed=0, progress=False, backup=backup)
    return metrics, [np.array(v) for v in model.variables]


def test_fine_tune_resumes_in_either_phase(tmp_path, monkeypatch, capsys, recwarn):
    """Interrupted after the first head epoch, then after the first full epoch: the third attempt
    ends with the uninterrupted run's weights and metrics."""
    from zoo import resume

    reference, reference_weights = _fine_tune()
    write = resume.EpochBackup.on_epoch_end
    for phase, resumed in (("head", ""), ("full", "resuming from epoch 1 of 2")):
        def interrupt(self, epoch, logs=None, phase=phase):
            write(self, epoch, logs)
            if self.path.parent.name == phase and epoch == 0:
                raise KeyboardInterrupt

        monkeypatch.setattr(resume.EpochBackup, "on_epoch_end", interrupt)
        with pytest.raises(KeyboardInterrupt):
            _fine_tune(tmp_path)
        assert resumed in capsys.readouterr().err
    monkeypatch.setattr(resume.EpochBackup, "on_epoch_end", write)
    metrics, weights = _fine_tune(tmp_path)
    err = capsys.readouterr().err
    assert "resuming from epoch 2 of 2" in err and "resuming from epoch 1 of 2" in err  # head done, full half
    assert not [w for w in recwarn if "ignoring the backup" in str(w.message)]
    assert (metrics["epochs"], metrics["head_top1"], metrics["top1"], metrics["val_loss"]) == \
        (4, reference["head_top1"], reference["top1"], reference["val_loss"])
    assert all(np.array_equal(a, b) for a, b in zip(weights, reference_weights))
