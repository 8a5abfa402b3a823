"""Inference path: BN folding keeps predictions, one trace serves every batch size."""

import importlib.util

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
    code = main(["latency", "--quick", "--no-torch", "--no-deploy", "--models", "mobilenet,shufflenet_g*",
                 "--image-size", "32", "--out", str(out), "--training-results", str(tmp_path / "absent.csv")])
    assert code == 0
    md = (out / "latency.md").read_text()
    assert "ONNX Runtime not timed (`--no-deploy`)" in md and "zoo best / ORT" not in md
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


DEPLOY_PACKAGES = ("tf2onnx", "onnx", "onnxruntime", "openvino")


@pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in DEPLOY_PACKAGES),
                    reason="ONNX Runtime / OpenVINO columns need the deploy extra (pip install -e '.[deploy]')")
def test_latency_times_deployment_runtimes(tmp_path):
    """ONNX Runtime, OpenVINO and int8 TFLite run for real in the same interleaved rounds."""
    import csv

    from zoo.cli import main

    out = tmp_path / "results"
    assert main(["latency", "--quick", "--no-torch", "--models", "mobilenet", "--image-size", "32",
                 "--out", str(out), "--training-results", str(tmp_path / "absent.csv")]) == 0
    rows = {r["path"]: r for r in csv.DictReader((out / "latency.csv").open()) if r["model"] == "mobilenet"}
    for runtime in ("ONNX Runtime", "OpenVINO", "tflite int8"):
        assert rows[runtime]["side"] == "deploy" and not rows[runtime]["error"], rows[runtime]
        assert float(rows[runtime]["median_ms"]) > 0 and int(rows[runtime]["calls"]) >= 3
    md = (out / "latency.md").read_text()
    assert ("| model | zoo best ms | ONNX Runtime ms | zoo best / ORT | OpenVINO ms | zoo best / OpenVINO | "
            "tflite fp32 ms | tflite int8 ms | int8 / fp32 |") in md
    assert "mobilenet / ONNX Runtime at batch 1:" in md and "mobilenet / OpenVINO at batch 1:" in md
    assert "calibrated on 8 deterministic random images" in md
    line = next(s for s in md.splitlines() if s.startswith("| mobilenet | ") and "(" in s.split("|")[2])
    cells = [c.strip() for c in line.strip("|").split("|")]
    ort, ov, fp32, int8 = (float(rows[p]["median_ms"]) for p in ("ONNX Runtime", "OpenVINO", "tflite", "tflite int8"))
    # the table rounds to 2 decimals, the CSV to 4 significant digits
    assert float(cells[2]) == pytest.approx(ort, abs=0.006) and float(cells[4]) == pytest.approx(ov, abs=0.006)
    assert float(cells[8]) == pytest.approx(int8 / fp32, abs=0.01)


def test_latency_deploy_table_says_what_is_missing():
    from zoo.perf import latency as lat

    setup = lat.Setup(models=["mobilenet"], batches=(1,), quick=True, torch=False, image_size=32, threads=1,
                      deploy=("tflite int8",), deploy_missing={"ONNX Runtime": "not installed: onnxruntime",
                                                               "OpenVINO": "not installed: openvino"})
    rows = [{"model": "mobilenet", "batch": 1, "side": "zoo", "path": "tflite", "median_ms": 2.0},
            {"model": "mobilenet", "batch": 1, "side": "deploy", "path": "tflite int8", "median_ms": 1.0}]
    table = "\n".join(lat.deploy_table(rows, setup, 1))
    assert "| mobilenet | 2.00 (tflite) | not installed | – | not installed | – | 2.00 | 1.00 | 0.50 |" in table
    assert lat.deploy_targets(rows, setup, 1) == ["- ONNX Runtime: not timed — not installed: onnxruntime",
                                                  "- OpenVINO: not timed — not installed: openvino"]
    assert "OpenVINO not timed (not installed: openvino)" in lat.deploy_header(setup)


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
