"""TFLite export: the exported model predicts what the Keras model predicts."""

import numpy as np
import pytest

from tests.test_perf import small
from zoo.cli import main
from zoo.perf import TFLiteRunner, export_tflite


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(2).uniform(size=(3, 64, 64, 3)).astype("float32")


@pytest.mark.parametrize("name", ["shufflenet_g8", "mobilenet_v2_w035", "squeezenet1_1", "shufflenet_v2_x0_5"])
def test_tflite_export_matches_keras(name, images, tmp_path):
    model = small(name)
    path = tmp_path / f"{name}.tflite"
    export_tflite(model, path)
    runner = TFLiteRunner(path, num_threads=2)
    expected = model(images, training=False).numpy()
    for batch in (images, images[:1]):  # the batch axis is dynamic
        got = runner(batch)
        np.testing.assert_allclose(got, expected[: len(batch)], atol=1e-4, rtol=1e-4)
        np.testing.assert_array_equal(got.argmax(-1), expected[: len(batch)].argmax(-1))


def test_export_cli_writes_a_runnable_file(tmp_path, images):
    out = tmp_path / "m.tflite"
    code = main(["export", "mobilenet_w025", "--tflite", str(out), "--set", "input_shape=[64, 64, 3]",
                 "--set", "num_classes=10"])
    assert code == 0 and out.stat().st_size > 0
    assert TFLiteRunner(out, num_threads=1)(images).shape == (3, 10)


def test_export_cli_rejects_bad_input(tmp_path, capsys):
    assert main(["export", "no_such_model", "--tflite", str(tmp_path / "x.tflite")]) == 2
    assert "no_such_model" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.keras"), "--tflite", str(tmp_path / "x.tflite")]) == 2


def test_tflite_runner_rejects_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tflite"):
        TFLiteRunner(tmp_path / "missing.tflite")
