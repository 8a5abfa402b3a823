"""Inference path: BN folding keeps predictions, one trace serves every batch size."""

import keras
import numpy as np
import pytest

import zoo
from zoo.perf import InferenceModel, count_batchnorm, fold_batchnorm

# One small model per structure folding has to handle: grouped convs + channel shuffle,
# residual adds, channel split/concat, no BN at all, separable convs, depthwise, dense residual.
FAMILIES = {
    "shufflenet_g8": dict(width=0.5),
    "mobilenet_v2_w035": {},
    "shufflenet_v2_x0_5": {},
    "squeezenet1_1": {},
    "xception": {},
    "mobilenet_w025": {},
}


def randomize_batchnorm(model, seed=0):
    """Non-trivial BN statistics, so a wrong fold shows (fresh BNs are nearly the identity)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n),
                               rng.normal(0, 0.2, n), rng.uniform(0.5, 2.0, n)])
    return model


def small(name, **kwargs):
    model = zoo.build(name, input_shape=(64, 64, 3), num_classes=10, classifier_activation=None,
                      **FAMILIES.get(name, {}), **kwargs)
    return randomize_batchnorm(model)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).uniform(size=(2, 64, 64, 3)).astype("float32")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_fold_batchnorm_keeps_predictions(name, images):
    model = small(name)
    folded = fold_batchnorm(model)
    if name == "squeezenet1_1":
        assert count_batchnorm(model) == 0  # nothing to fold: an equal copy
    else:
        assert count_batchnorm(model) > 0
    assert count_batchnorm(folded) == 0
    expected = model(images, training=False).numpy()
    np.testing.assert_allclose(folded(images, training=False).numpy(), expected, atol=1e-5, rtol=1e-5)
    assert folded.count_params() <= model.count_params()


def test_fold_batchnorm_leaves_activation_right_after_conv():
    model = small("mobilenet_w025")
    folded = fold_batchnorm(model)
    relus = [layer for layer in folded.layers if isinstance(layer, keras.layers.ReLU)]
    assert relus
    for relu in relus:
        producer = relu.input._keras_history.operation
        assert isinstance(producer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)), producer
        assert producer.use_bias


def test_fold_batchnorm_keeps_bn_after_a_shared_conv():
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    bn = keras.layers.BatchNormalization(name="bn")(conv)
    model = randomize_batchnorm(keras.Model(inputs, keras.layers.Add()([conv, bn])))
    folded = fold_batchnorm(model)
    assert count_batchnorm(folded) == 1  # the conv's output is read twice: folding would change it
    x = np.ones((1, 8, 8, 3), "float32")
    np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), atol=1e-6)


def test_fold_batchnorm_rejects_non_models():
    with pytest.raises(TypeError, match="keras.Model"):
        fold_batchnorm("mobilenet")


def test_inference_model_traces_once_for_every_batch_size(images):
    model = small("shufflenet_g8")
    served = InferenceModel(model)
    expected = model(images, training=False).numpy()
    np.testing.assert_allclose(served(images), expected, atol=1e-5, rtol=1e-5)
    for batch in (1, 3, 2, 1):
        assert served(np.zeros((batch, 64, 64, 3), "float32")).shape == (batch, 10)
    assert served.tracing_count() == 1


def test_inference_model_needs_a_fixed_input_shape():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match="input shape"):
        InferenceModel(model)


# --- zoo latency, end to end on a tiny set ------------------------------------------------------

def test_latency_quick_writes_tables(tmp_path):
    from zoo.cli import main

    out = tmp_path / "results"
    code = main(["latency", "--quick", "--no-torch", "--models", "mobilenet,shufflenet_g*", "--image-size", "32",
                 "--out", str(out), "--training-results", str(tmp_path / "absent.csv")])
    assert code == 0
    md = (out / "latency.md").read_text()
    assert "Load average" in md and "zoo latency" in md
    assert "| mobilenet |" in md and "| shufflenet_g8 |" in md
    assert "ShuffleNet 1x g=8 / g=1" in md  # the target line is computed from measured rows
    assert "mobilenet / keras.applications at batch 1" in md
    assert "Not yet measured" in md
    import csv

    rows = list(csv.DictReader((out / "latency.csv").open()))
    paths = {(r["model"], r["path"]) for r in rows if not r["error"]}
    for path in ("keras graph", "folded", "tflite"):
        assert ("mobilenet", path) in paths
    assert ("mobilenet", "MobileNet (keras graph)") in paths
    assert all(float(r["median_ms"]) > 0 for r in rows if not r["error"])


def test_latency_rejects_bad_input(tmp_path, capsys):
    from zoo.cli import main

    assert main(["latency", "--models", "nothing*", "--out", str(tmp_path)]) == 2
    assert "matches none" in capsys.readouterr().err
    assert main(["latency", "--batches", "1,x", "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "latency.md").exists()


# --- zoo conv-types ----------------------------------------------------------------------------

def test_conv_types_macs_equal_survey_formulas(tmp_path):
    import csv

    from zoo.cli import main

    assert main(["conv-types", "--quick", "--case", "8x8x16->16", "--batch", "2", "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "conv-types.csv").open()))
    hw, m, n, k = 64, 16, 16, 9
    expected = {"standard": hw * n * m * k, "dilated": hw * n * m * k, "pointwise": hw * n * m,
                "depthwise": hw * m * k, "separable": hw * m * k + hw * m * n, "shuffle": 0}
    by_kind = {r["kind"]: r for r in rows}
    for kind, macs in expected.items():
        assert int(by_kind[kind]["macs_per_image"]) == macs, kind
    grouped = [r for r in rows if r["kind"] in ("grouped", "keras_grouped")]
    assert len(grouped) == 6
    for r in grouped:
        g = int(r["conv"].rsplit("g=", 1)[1])
        assert int(r["macs_per_image"]) == hw * n * m * k // g == int(r["survey_macs"])
    assert all(float(r["median_ms"]) > 0 for r in rows)
    assert "| depthwise |" in (tmp_path / "conv-types.md").read_text()


def test_conv_types_rejects_bad_case(tmp_path, capsys):
    from zoo.cli import main

    assert main(["conv-types", "--case", "56x28x128->128", "--out", str(tmp_path)]) == 2
    assert "square" in capsys.readouterr().err
