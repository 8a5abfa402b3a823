"""TFLite export: the exported model predicts what the Keras model predicts; zoo export refuses bad input."""

import keras
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


# --- zoo export: quantized modes and bad input --------------------------------------------------

SMALL = ["--set", "input_shape=[32, 32, 3]", "--set", "num_classes=10"]


def test_export_cli_writes_each_tflite_mode(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    for flags in (["--float16"], ["--dynamic-range", "--per-tensor"]):
        out = tmp_path / f"{flags[0][2:]}.tflite"
        assert main(["export", "mobilenet_w025", "--tflite", str(out), *flags, *SMALL]) == 0
        assert TFLiteRunner(out, num_threads=1)(x).shape == (2, 10)


@pytest.mark.parametrize("flags, message", [
    (["--int8"], "--int8 needs --calibration"),
    (["--calibration", "cifar10"], "--calibration applies to --int8 only"),
    (["--float16", "--per-tensor"], "--per-tensor applies to --int8 or --dynamic-range"),
    (["--integer-io", "uint8"], "--integer-io applies to --int8 only"),
    (["--int8", "--calibration", "cifar10", "--calibration-images", "0"], "--calibration-images expects"),
])
def test_export_cli_rejects_options_that_do_not_fit(flags, message, tmp_path, capsys):
    """Checked before anything loads: the message names the option."""
    out = tmp_path / "m.tflite"
    assert main(["export", "mobilenet_w025", "--tflite", str(out), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_export_cli_rejects_tflite_options_for_onnx(tmp_path, capsys):
    assert main(["export", "mobilenet_w025", "--onnx", str(tmp_path / "m.onnx"), "--int8"]) == 2
    assert "--int8 applies to --tflite only" in capsys.readouterr().err


def test_export_cli_names_an_unwritable_path(tmp_path, capsys):
    """Checked before converting: a file where the folder should be, a folder where the file should be."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    folder = tmp_path / "dir.tflite"
    folder.mkdir()
    for out, named in ((blocker / "m.tflite", blocker), (folder, folder)):
        assert main(["export", "mobilenet_w025", "--tflite", str(out), *SMALL]) == 2
        err = capsys.readouterr().err
        assert str(named) in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.tflite", "file"]  # nothing half-written
    assert list(folder.iterdir()) == []


def test_export_cli_passes_on_the_data_layer_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    out = tmp_path / "m.tflite"
    assert main(["export", "mobilenet_w025", "--tflite", str(out), "--int8", "--calibration", "no_such_set:train",
                 *SMALL]) == 2
    assert "Unknown dataset 'no_such_set'" in capsys.readouterr().err
    assert not out.exists()


@keras.saving.register_keras_serializable(package="zoo_tests")
class BesselLayer(keras.layers.Layer):
    """tf.math.special.bessel_i1e: an op with no TFLite builtin, no ONNX op, no OpenVINO rule."""

    def call(self, x):
        import tensorflow as tf

        return tf.math.special.bessel_i1e(x)


@pytest.fixture(scope="module")
def odd_model(tmp_path_factory):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = BesselLayer(name="odd_layer")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="pool")(x), name="oddnet")
    path = tmp_path_factory.mktemp("odd") / "oddnet.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("fmt, suffix, needs, name", [
    ("--tflite", ".tflite", (), "TFLite float32"),
    ("--onnx", ".onnx", ("tf2onnx", "onnx"), "ONNX"),
    ("--openvino", ".xml", ("openvino",), "OpenVINO"),
], ids=["tflite", "onnx", "openvino"])
def test_export_cli_names_the_layer_a_format_cannot_convert(odd_model, fmt, suffix, needs, name, tmp_path,
                                                             capsys):
    import importlib.util

    absent = [p for p in needs if importlib.util.find_spec(p) is None]
    if absent:
        pytest.skip(f"{name} export needs {', '.join(absent)} (pip install -e '.[deploy]')")
    out = tmp_path / f"m{suffix}"
    assert main(["export", str(odd_model), fmt, str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{name} cannot convert layer 'odd_layer' (BesselLayer)" in err and "BesselI1e" in err, err
    assert len(err.strip().splitlines()) == 1, err  # one line: no traceback, no converter dump
    assert list(tmp_path.iterdir()) == []


def test_int8_export_names_the_layer_too(odd_model):
    model = keras.saving.load_model(odd_model)
    with pytest.raises(ValueError, match="TFLite int8 cannot convert layer 'odd_layer'"):
        export_tflite(model, mode="int8", calibration=np.zeros((2, 8, 8, 3), "float32"))


def test_export_help_imports_no_keras_and_states_the_library_default():
    """`zoo export --help` answers from argparse alone, with the calibration default of zoo.perf.quantize."""
    import subprocess
    import sys

    from zoo.cli.export import CALIBRATION_IMAGES_HELP
    from zoo.perf.quantize import DEFAULT_CALIBRATION_IMAGES

    assert CALIBRATION_IMAGES_HELP == DEFAULT_CALIBRATION_IMAGES
    code = ("import sys; sys.argv = ['zoo', 'export', '--help']\nfrom zoo.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('loaded:', 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    assert f"(default {DEFAULT_CALIBRATION_IMAGES})" in " ".join(out.stdout.split())
    assert out.stdout.strip().endswith("loaded: False False"), out.stdout[-500:]
