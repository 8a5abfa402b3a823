"""ONNX and OpenVINO exports through Keras' ``model.export``: the runtimes predict what Keras
predicts, on families with grouped convs and channel shuffle, depthwise convs and concats."""

import importlib.util

import numpy as np
import pytest

import zoo
from tests.test_perf import randomize_batchnorm
from zoo.cli import main
from zoo.perf import OnnxRunner, OpenVINORunner, export_onnx, export_openvino


def missing(*packages):
    return [p for p in packages if importlib.util.find_spec(p) is None]


needs_onnx = pytest.mark.skipif(
    bool(missing("tf2onnx", "onnx", "onnxruntime")),
    reason=f"ONNX export and ONNX Runtime need {', '.join(missing('tf2onnx', 'onnx', 'onnxruntime'))} "
           "(pip install -e '.[deploy]')")
needs_openvino = pytest.mark.skipif(bool(missing("openvino")),
                                    reason="OpenVINO export needs openvino (pip install -e '.[deploy]')")

# grouped 1x1 convs + channel shuffle, depthwise separable, plain convs, fire modules (concat)
FAMILIES = {"shufflenet_g8": {"width": 0.5}, "mobilenet_w025": {}, "convnet": {"width": 0.25}, "squeezenet1_1": {}}


def small(name):
    model = zoo.build(name, input_shape=(32, 32, 3), num_classes=10, classifier_activation=None, **FAMILIES[name])
    return randomize_batchnorm(model)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(3).normal(size=(3, 32, 32, 3)).astype("float32")


@needs_onnx
@pytest.mark.parametrize("name", list(FAMILIES))
def test_onnx_runtime_matches_keras(name, images, tmp_path):
    model = small(name)
    path = tmp_path / f"{name}.onnx"
    assert export_onnx(model, path) == path.read_bytes()
    runner = OnnxRunner(path, num_threads=1)
    expected = model(images, training=False).numpy()
    for batch in (images, images[:1]):  # the batch axis is dynamic
        np.testing.assert_allclose(runner(batch), expected[: len(batch)], atol=1e-4, rtol=1e-4)


@needs_openvino
@pytest.mark.parametrize("name", list(FAMILIES))
def test_openvino_matches_keras(name, images, tmp_path):
    model = small(name)
    path = export_openvino(model, tmp_path / f"{name}.xml")
    assert path.is_file() and path.with_suffix(".bin").is_file()
    runner = OpenVINORunner(path, num_threads=1)  # f32: this CPU would otherwise run bf16
    expected = model(images, training=False).numpy()
    for batch in (images, images[:1]):
        np.testing.assert_allclose(runner(batch), expected[: len(batch)], atol=1e-4, rtol=1e-4)


@needs_onnx
def test_export_cli_writes_onnx(tmp_path, images):
    out = tmp_path / "m.onnx"
    assert main(["export", "convnet", "--onnx", str(out), "--set", "width=0.25", "--set", "input_shape=[32, 32, 3]",
                 "--set", "num_classes=10"]) == 0
    assert OnnxRunner(out)(images).shape == (3, 10)


@needs_openvino
def test_export_cli_writes_openvino(tmp_path, images):
    out = tmp_path / "m.xml"
    assert main(["export", "convnet", "--openvino", str(out), "--set", "width=0.25", "--set",
                 "input_shape=[32, 32, 3]", "--set", "num_classes=10"]) == 0
    assert OpenVINORunner(out)(images).shape == (3, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.xml"]  # no temporary files left


@needs_onnx
def test_onnx_runner_rejects_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        OnnxRunner(tmp_path / "missing.onnx")


@needs_openvino
def test_openvino_runner_rejects_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.xml"):
        OpenVINORunner(tmp_path / "missing.xml")
