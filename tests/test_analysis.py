"""Dead-channel statistics, correlation within/across groups, TensorBoard output, the CLIs and claims g/h."""

import json

import keras
import numpy as np
import pytest

from zoo.analysis import Thresholds, channel_correlation, dead_channels
from zoo.survey import claims as C
from zoo.layers import GroupedConv2D


@pytest.fixture(scope="module")
def planted():
    """conv(6) -> ReLU -> conv(3) -> pool -> dense: channel 2 is zero, channel 4 a constant 0.5."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(x))
    kernel, bias = model.get_layer("conv1").get_weights()
    bias[:] = 0.5  # every other channel is positive somewhere
    kernel[..., 2] = 0.0
    bias[2] = 0.0
    kernel[..., 4] = 0.0
    model.get_layer("conv1").set_weights([kernel, bias])
    images = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    return model, images


def test_zero_and_constant_channels_are_found(planted):
    model, images = planted
    row = dead_channels(model, images).layer("conv1")
    assert row.stats_of == "relu1"  # measured after the nonlinearity
    assert row.zero == [2] and row.constant == [4] and row.dead == [2, 4]
    assert set(row.low_weight) == {2, 4}
    assert row.mean_abs[4] == pytest.approx(0.5) and row.nonzero_fraction[2] == 0
    assert row.dead_params == round(row.params * 2 / 6)
    assert row.receptive_field == (3, 3)


def test_only_the_zero_channel_is_exactly_removable(planted):
    model, images = planted
    report = dead_channels(model, images)
    assert report.plan.removed_channels("conv1") == [2]  # a constant 0.5 is not zero at conv2
    assert report.plan.predicted_params_saved == 3 * 9 + 1 + 9 * 3
    table = report.format_table()
    assert "conv1" in table and "RF" in table and "exactly removable" in table


def test_thresholds_are_the_users(planted):
    model, images = planted
    loose = dead_channels(model, images, Thresholds(mean_abs=10.0), with_plan=False)
    assert loose.layer("conv1").zero == list(range(6))
    with pytest.raises(ValueError, match="invalid variance=-1"):
        Thresholds(variance=-1)
    with pytest.raises(ValueError, match=r"takes \(8, 8, 3\) images"):
        dead_channels(model, np.zeros((2, 9, 9, 3), "float32"))


def test_tensorboard_files(planted, tmp_path):
    from zoo.analysis import correlation, dead

    model, images = planted
    dead.write_tensorboard(dead_channels(model, images, with_plan=False), tmp_path)
    correlation.write_tensorboard([channel_correlation(model, "conv1", images, groups=2)], tmp_path)
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 2


def _block_model(groups):
    """A 1x1 conv whose filters in each group are one shared vector plus small noise."""
    rng = np.random.default_rng(1)
    inputs = keras.Input((6, 6, 8))
    layer = GroupedConv2D(8, 1, groups=groups, name="g") if groups > 1 else keras.layers.Conv2D(8, 1, name="g")
    model = keras.Model(inputs, layer(inputs))
    kernel, bias = layer.get_weights()
    if groups > 1:
        per = 8 // groups
        for g in range(groups):
            kernel[..., g * per:(g + 1) * per] = rng.normal(size=kernel.shape[:-1] + (1,)) \
                + 0.05 * rng.normal(size=kernel.shape[:-1] + (per,))
    else:
        kernel = rng.normal(size=kernel.shape)
    layer.set_weights([kernel, bias])
    return model, rng.normal(size=(8, 6, 6, 8)).astype("float32")


def test_grouped_block_structure_within_exceeds_across():
    model, images = _block_model(2)
    c = channel_correlation(model, "g", images)
    assert c.groups == 2 and c.activation.shape == (8, 8)
    assert c.activation_within > 0.9 and c.activation_across < 0.3
    assert c.weights_within > c.weights_across
    standard, images = _block_model(1)
    s = channel_correlation(standard, "g", images, groups=2)
    assert abs(s.activation_within - s.activation_across) < c.activation_within - c.activation_across


def test_correlation_bad_input():
    model, images = _block_model(2)
    with pytest.raises(ValueError, match="has no layer 'nope'"):
        channel_correlation(model, "nope", images)
    with pytest.raises(ValueError, match="invalid groups=3"):
        channel_correlation(model, "g", images, groups=3)


def test_analyze_and_prune_cli(shared_data, tmp_path):
    from zoo.cli import main

    path = tmp_path / "m.keras"
    small = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, name="c1"), keras.layers.ReLU(),
                              keras.layers.Conv2D(2, 3, name="c2"), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(10, name="out")])
    small = keras.Model(small.inputs, small.outputs)
    small.save(path)
    out = tmp_path / "report.json"
    assert main(["analyze", str(path), "--data-dir", str(shared_data), "--samples", "8",
                 "--correlation", "c1", "--groups", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["name"] for r in report["layers"]] == ["c1", "c2"] and report["samples"] == 8
    assert report["correlation"][0]["layer"] == "c1"
    pruned = tmp_path / "p.keras"
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY_SUITE)
    assert main(["prune", str(path), "--out", str(pruned), "--remove", "c1:0,1", "--fine-tune", str(suite),
                 "--data-dir", str(shared_data)]) == 0
    assert keras.saving.load_model(pruned).get_layer("c1").filters == 2
    assert main(["prune", str(path), "--out", str(pruned)]) != 0  # nothing chosen: a clear error, no traceback


TINY_SUITE = """
name = "claims-dead"
description = "tiny: convnet grouped g=2 width 0.25, 10 images per class, 1 epoch"
[dataset]
name = "cifar10"
train_split = "train"
eval_split = "test"
image_size = 32
subset = { per_class = 10, seed = 0 }
eval_subset = { per_class = 5, seed = 0 }
[recipe]
epochs = 1
batch_size = 16
optimizer = "sgd"
learning_rate = 0.05
[run]
seeds = [0]
latency = false
[[models]]
name = "convnet"
conv = "grouped"
groups = 2
width = 0.25
"""


def test_measure_dead_feeds_claims_g_and_h(shared_data, tmp_path):
    suite = tmp_path / "claims-dead.toml"
    suite.write_text(TINY_SUITE + '[[models]]\nname = "squeezenet1_1"\nrecipe = { learning_rate = 0.01 }\n')
    results = tmp_path / "results"
    records = C.measure_dead(suite, results / C.DEAD_SUITE, str(shared_data), sample=32)
    assert [d["model"] for d in records] == ["convnet", "squeezenet1_1"]
    assert records[1]["recipe_overrides"] == {"learning_rate": 0.01}
    for dead in records:
        assert dead["channels"] > 0 and 0 <= dead["top1_after"] <= 1
        assert dead["top1_after"] == pytest.approx(dead["top1_before"], abs=1e-9)  # only exactly-dead channels went
    g, h = C.claim_g(results), C.claim_h(results)
    assert g.verdict != C.NOT_MEASURED and h.verdict != C.NOT_MEASURED
    g_text = "\n".join(g.measured)
    assert "squeezenet1_1 (recipe: learning_rate=0.01) | no |" in g_text  # no BatchNorm, said so
    assert 'convnet (conv="grouped";groups=2;width=0.25) | yes |' in g_text
    assert all("squeezenet" not in line for line in h.measured)  # no grouped conv: not in the correlation claim
    run_dirs = sorted(p.name for p in (results / C.DEAD_SUITE).iterdir())
    assert [name.split("-")[0] for name in run_dirs] == ["convnet", "squeezenet1_1"]
    corr = json.loads((results / C.DEAD_SUITE / run_dirs[0] / "correlation.json").read_text())
    assert any(r["grouped"] for r in corr["layers"]) and any(not r["grouped"] for r in corr["layers"])
    # A rerun resumes: both models are measured already, so nothing trains and nothing is rewritten.
    stamps = {p: p.stat().st_mtime_ns for p in (results / C.DEAD_SUITE).glob("*/dead.json")}
    assert C.measure_dead(suite, results / C.DEAD_SUITE, "/nonexistent", sample=32) == records
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # The same seed gives the same model: a fresh measurement elsewhere trains to the same top-1.
    again = C.measure_dead(suite, tmp_path / "again", str(shared_data), sample=32)
    assert [d["top1_trained"] for d in again] == [d["top1_trained"] for d in records]
    from zoo.cli import load_or_build  # a model saved after training (optimizer state and all) loads

    assert load_or_build(str(results / C.DEAD_SUITE / run_dirs[0] / "model.keras")).count_params() > 0
