"""zoo.weights: keras.applications checkpoints, weight files, preprocessing, and every refusal.

No network: each test writes the files itself. keras.applications' checkpoints are stood
in for by keras.applications models with random weights, saved in the published files'
layout (Keras 2 ``save_weights`` .h5) under keras' exact file names in a temporary
KERAS_HOME, so ``weights="imagenet"`` runs its real cache-and-load path on them.
"""

import socket
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tomllib

import zoo
from zoo.weights import (
    CHECKPOINTS,
    MissingWeightsError,
    imagenet_classes,
    pretrained_table,
)
from zoo.weights.catalog import keras_file
from zoo.weights.load import full_config, select

ROOT = Path(__file__).resolve().parents[1]
APPS = {"MobileNet": keras.applications.mobilenet, "MobileNetV2": keras.applications.mobilenet_v2,
        "Xception": keras.applications.xception}


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("ZOO_WEIGHTS_MIRROR", raising=False)
    return tmp_path / "keras"


def _randomize(model, seed=0):
    """Random weights with positive BN variances, so every tensor matters in the comparison."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype("float32") if w.ndim > 1
                       else rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.get_weights()])


def _publish_keras_file(keras_home, ckpt, side, include_top):
    """A keras.applications model with random weights, saved as keras' cache file for (side, top)."""
    from keras.src.legacy.saving import (
        legacy_h5_format,  # the writer of the published Keras 2 files
    )

    app = getattr(keras.applications, ckpt.keras_app)
    ref = app(weights=None, include_top=include_top, input_shape=(side, side, 3), **ckpt.keras_kwargs)
    _randomize(ref)
    fname, _, _ = keras_file(ckpt, side, include_top)
    (keras_home / "models").mkdir(parents=True, exist_ok=True)
    with h5py.File(keras_home / "models" / fname, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    return ref


def _checkpoint(name, tag="keras", **knobs):
    return next(c for c in CHECKPOINTS if c.name == name and c.tag == tag and dict(c.knobs) == knobs)


def _run(model, x):
    """One eager forward pass in inference mode (``predict`` would trace a graph first)."""
    return np.asarray(model(x, training=False))


def _close(ours, expected, tolerance=1e-5):
    """Equal within ``tolerance`` of the output's scale (softmax: absolute; feature maps: relative to max)."""
    assert np.abs(ours - expected).max() <= tolerance * max(1.0, float(np.abs(expected).max()))


def _images(side, n=2, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (n, side, side, 3)).astype("float32")


@pytest.mark.parametrize("name, knobs, side, include_top", [
    ("mobilenet_w025", {}, 128, True),
    ("mobilenet_w075", {}, 160, False),
    ("mobilenet_v2_w035", {}, 96, True),  # 96 px: the ImageNet stem although < 128 (small_input auto)
    ("mobilenet_v2", {"width": 1.3}, 128, False),
])
def test_keras_applications_checkpoint_matches_keras(keras_home, name, knobs, side, include_top):
    ckpt = _checkpoint(name, **knobs)
    ref = _publish_keras_file(keras_home, ckpt, side, include_top)
    ours = zoo.build(name, **knobs, input_shape=(side, side, 3), include_top=include_top,
                     weights="imagenet", include_preprocessing=True)
    assert ours.layers[1].name == "preprocessing"
    images = _images(side)
    expected = _run(ref, APPS[ckpt.keras_app].preprocess_input(images.copy()))
    _close(_run(ours, images), expected)


@pytest.mark.slow
def test_xception_checkpoint_matches_keras(keras_home, monkeypatch):
    from zoo.weights import catalog

    ckpt = _checkpoint("xception")
    # The stand-in file cannot have the published md5; keras would (rightly) download again.
    monkeypatch.setitem(catalog.KERAS_XCEPTION_FILES, True, (catalog.KERAS_XCEPTION_FILES[True][0], None))
    ref = _publish_keras_file(keras_home, ckpt, 299, True)
    ours = zoo.build("xception", weights="imagenet", include_preprocessing=True)
    images = _images(299, n=1)
    expected = _run(ref, keras.applications.xception.preprocess_input(images.copy()))
    _close(_run(ours, images), expected)


def test_keras_file_names_and_urls_are_keras_applications_own():
    from keras.src.applications import mobilenet, mobilenet_v2, xception

    v1 = _checkpoint("mobilenet_w025")
    assert keras_file(v1, 128, True) == ("mobilenet_2_5_128_tf.h5", mobilenet.BASE_WEIGHT_PATH
                                         + "mobilenet_2_5_128_tf.h5", None)
    assert keras_file(v1, 224, False)[0] == "mobilenet_2_5_224_tf_no_top.h5"
    v2 = _checkpoint("mobilenet_v2", width=1.3)
    assert keras_file(v2, 96, False) == (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_96_no_top.h5",
        mobilenet_v2.BASE_WEIGHT_PATH + "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_96_no_top.h5", None)
    x = _checkpoint("xception")
    assert keras_file(x, 299, True)[1:] == (xception.WEIGHTS_PATH, "0a58e3b7378bc2990ea3b43d5981f1f6")
    assert keras_file(x, 299, False)[1:] == (xception.WEIGHTS_PATH_NO_TOP, "b0042744bf5b25fce3cb969f33bebb97")


def test_every_checkpoint_is_found_by_its_configuration():
    for c in CHECKPOINTS:
        config = full_config(c.name, dict(c.knobs))
        assert select(c.name, config, c.tag) is c
        assert select(c.name, config, "imagenet").name == c.name  # the first listed for that configuration


def test_variant_names_and_knobs_reach_the_same_checkpoint():
    assert select("mobilenet", full_config("mobilenet", {"width": 0.25}), "imagenet") is _checkpoint("mobilenet_w025")
    assert select("mobilenet_v2", full_config("mobilenet_v2", {}), "imagenet").tag == "keras"
    assert select("mobilenet_v2", full_config("mobilenet_v2", {}), "torchvision_v2").source_id.endswith("V2")
    assert select("mobilenet", full_config("mobilenet", {"output_stride": 16}), "timm").tag == "timm"


# --- weight files ---------------------------------------------------------------------


def test_weights_file_and_keras_file(tmp_path):
    """weights=PATH: a zoo model's save_weights file, and a .keras file (copied by layer name)."""
    src = zoo.build("squeezenet1_1", input_shape=(64, 64, 3))
    _randomize(src)
    images = _images(64) / 255.0
    src.save_weights(tmp_path / "s.weights.h5")
    src.save(tmp_path / "s.keras")
    expected = _run(src, images)
    for path in ("s.weights.h5", "s.keras"):
        ours = zoo.build("squeezenet1_1", input_shape=(64, 64, 3), weights=tmp_path / path)
        np.testing.assert_allclose(_run(ours, images), expected, atol=1e-6)
    with pytest.raises(ValueError, match="do not say which input scaling"):  # a bare file: no guessing
        zoo.build("squeezenet1_1", input_shape=(64, 64, 3), weights=tmp_path / "s.weights.h5", include_preprocessing=True)
    # The backbone of a .keras file, at another size, under a new head:
    backbone = zoo.build("squeezenet1_1", input_shape=(96, 96, 3), include_top=False, weights=tmp_path / "s.keras")
    assert backbone.get_layer("fire9_squeeze").get_weights()[0].tolist() == \
        src.get_layer("fire9_squeeze").get_weights()[0].tolist()


def test_weights_file_of_another_configuration_is_refused(tmp_path):
    zoo.build("squeezenet1_1", input_shape=(64, 64, 3)).save_weights(tmp_path / "s.weights.h5")
    with pytest.raises(ValueError, match="another configuration"):  # keras alone would skip the head silently
        zoo.build("squeezenet1_1", input_shape=(64, 64, 3), include_top=False, weights=tmp_path / "s.weights.h5")
    with pytest.raises(ValueError, match="another configuration"):
        zoo.build("squeezenet1_0", input_shape=(64, 64, 3), weights=tmp_path / "s.weights.h5")
    with pytest.raises(FileNotFoundError, match="no such file"):
        zoo.build("squeezenet1_1", weights=tmp_path / "missing.weights.h5")


def test_preprocessing_modes_and_saving(tmp_path):
    model = zoo.build("mobilenet_w025", input_shape=(64, 64, 3), include_top=False, include_preprocessing="torch")
    assert model.layers[1].name == "preprocessing" and len(model.layers) == len(
        zoo.build("mobilenet_w025", input_shape=(64, 64, 3), include_top=False).layers) + 1
    x = _images(64, n=1)
    scaled = _run(keras.Model(model.inputs[0], model.layers[1].output), x)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(scaled, (x / 255 - mean) / std, atol=1e-5)
    model.save(tmp_path / "m.keras")
    again = zoo.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(_run(again, x), _run(model, x), atol=1e-6)
    # True without weights: the scaling of the checkpoint weights="imagenet" would load (keras: [-1, 1])
    assert zoo.build("mobilenet_w025", input_shape=(64, 64, 3), include_top=False,
                     include_preprocessing=True).layers[1].offset == -1.0
    with pytest.raises(ValueError, match="pass include_preprocessing='tf'"):
        zoo.build("shufflenet", include_preprocessing=True)
    with pytest.raises(ValueError, match="include_preprocessing='caffe'"):
        zoo.build("mobilenet_w025", include_preprocessing="caffe")


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, knobs, message", [
    ("shufflenet", {}, r"no published ImageNet checkpoint.*Configurations with weights:\n.*'mobilenet_w025'"),
    ("mobilenet", {"width": 0.6}, r"mobilenet\(width=0.6\): no published ImageNet checkpoint"),
    ("mobilenet_v2", {"expansion": 4}, "no published ImageNet checkpoint"),
    ("mobilenet_w025", {"small_input": True, "input_shape": (128, 128, 3)}, "small_input=True"),
    ("mobilenet_w025", {"input_shape": (200, 200, 3)}, r"include_top=True exist for input \(128, 128, 3\)"),
    ("shufflenet_v2_x1_0", {"input_shape": (160, 160, 3)}, r"exist for input \(224, 224, 3\), not \(160, 160, 3\)"),
    ("mobilenet_w025", {"num_classes": 10, "input_shape": (128, 128, 3)}, "include_top=False, pooling='avg'"),
    ("mobilenet_w025", {"weights": "torchvision"}, "no 'torchvision' weights; it has: 'keras'"),
])
def test_bad_requests_say_what_exists(keras_home, name, knobs, message):
    knobs = {"weights": "imagenet", **knobs}
    with pytest.raises(ValueError, match=message):
        zoo.build(name, **knobs)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mirror", ["http://127.0.0.1:{port}/weights", "file:///nonexistent-zoo-mirror"])
def test_no_network_fails_fast_naming_url_and_cache_file(keras_home, monkeypatch, mirror):
    monkeypatch.setenv("ZOO_WEIGHTS_MIRROR", mirror.format(port=_closed_port()))
    start = time.perf_counter()
    with pytest.raises(MissingWeightsError) as info:
        zoo.build("mobilenet_w025", input_shape=(128, 128, 3), weights="imagenet")
    assert time.perf_counter() - start < 20
    message = str(info.value)
    assert mirror.split("{")[0] in message and "mobilenet_2_5_128_tf.h5" in message
    assert str(keras_home / "models" / "mobilenet_2_5_128_tf.h5") in message and "place it at" in message


def test_cached_file_with_wrong_hash_is_fetched_again(keras_home, monkeypatch):
    monkeypatch.setenv("ZOO_WEIGHTS_MIRROR", f"http://127.0.0.1:{_closed_port()}")
    fname = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
    (keras_home / "models").mkdir(parents=True)
    (keras_home / "models" / fname).write_bytes(b"truncated download")
    with pytest.raises(MissingWeightsError, match=r"place it at .*notop.h5 \(md5 b0042744bf5b25fce3cb969f33bebb97\)"):
        zoo.build("xception", include_top=False, weights="imagenet")


def test_unconverted_torch_checkpoint_names_the_command(keras_home):
    with pytest.raises(MissingWeightsError, match=r"zoo convert-weights shufflenet_v2_x1_0 --tag torchvision"):
        zoo.build("shufflenet_v2_x1_0", weights="imagenet")


# --- data ------------------------------------------------------------------------------------


def test_imagenet_classes_are_package_data():
    classes = imagenet_classes()
    assert len(classes) == 1000 == len(set(classes)) and classes[0] == "tench" and classes[-1] == "toilet tissue"
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "imagenet_classes.txt" in package_data["zoo.weights"]


def test_table_lists_every_checkpoint_with_source_and_licence():
    table = pretrained_table()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(CHECKPOINTS)
    for c in CHECKPOINTS:
        assert c.top1 and c.top1_url.startswith("https://") and c.license_url.startswith("https://")
        assert set(c.top1) <= set(c.resolutions)
    assert "| `shufflenet_v2_x1_0` | `'imagenet'`, `'torchvision'` |" in table and "| `mobilenet` | `'timm'` |" in table
    assert "[69.4% @224](" in table and "MIT (trained by the Keras team)" in table


def test_readme_section_shows_the_current_table():
    """The table is generated: README.md (or docs-weights.md before the merge) must hold it verbatim."""
    table = pretrained_table()
    texts = [(ROOT / f).read_text() for f in ("README.md", "docs-weights.md") if (ROOT / f).is_file()]
    assert any(table in text for text in texts), "refresh the table: print(zoo.weights.pretrained_table())"
