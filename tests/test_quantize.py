"""Post-training quantization: every family converts and runs in every TFLite mode, int8 keeps
the top-1 of a trained model, and the options do what they say in the file itself."""

import numpy as np
import pytest
from PIL import Image

import zoo
from tests.test_perf import randomize_batchnorm
from zoo.cli import main
from zoo.perf import TFLiteRunner, evaluate_tflite, export_tflite, time_tflite
from zoo.perf.quantize import MODES, calibration_images, export, export_modes, input_kind, model_batches

SIZE = 32
# One small configuration per registered family (32x32, 10 classes, narrow).
FAMILY_CONFIGS = {
    "alexnet": {"fc_units": 32},
    "convnet": {"width": 0.25},
    "dilated": {"width": 0.25},
    "mobilenet": {"width": 0.25},
    "mobilenet_v2": {"width": 0.35},
    "resnet": {"width": 0.25},
    "shufflenet": {"groups": 2, "width": 0.25},
    "shufflenet_v2": {"width": 0.5},
    "squeezenet": {"version": "1.1"},
    "xception": {"width": 0.25, "middle_blocks": 1},
}
# Largest |TFLite - Keras| / max |Keras| on random inputs; measured at most 7e-7, 9e-4, 0.019
# and 0.022 over the families above (TF 2.21).
TOLERANCE = {"float32": 1e-5, "float16": 5e-3, "dynamic-range": 0.1, "int8": 0.1}
INT8_TOP1_TOLERANCE = 0.05  # int8 top-1 within 5 points of float32 top-1


def small(family, **kwargs):
    model = zoo.build(family, input_shape=(SIZE, SIZE, 3), num_classes=10, classifier_activation=None,
                      **FAMILY_CONFIGS[family], **kwargs)
    return randomize_batchnorm(model)


def dtypes(flatbuffer):
    details = TFLiteRunner(flatbuffer).interpreter.get_tensor_details()
    return [np.dtype(d["dtype"]) for d in details]


def test_family_configs_cover_the_registry():
    """A new family must get a configuration here, so it is converted in every mode."""
    assert set(FAMILY_CONFIGS) == {zoo.get_spec(name).family for name in zoo.list_models()}


@pytest.mark.parametrize("family", list(FAMILY_CONFIGS))
def test_every_family_converts_and_runs_in_every_mode(family):
    model = small(family)
    rng = np.random.default_rng(0)
    calibration = rng.normal(size=(8, SIZE, SIZE, 3)).astype("float32")
    x = rng.normal(size=(2, SIZE, SIZE, 3)).astype("float32")
    expected = model(x, training=False).numpy()
    for mode, flatbuffer in export_modes(model, MODES, calibration=calibration).items():
        got = TFLiteRunner(flatbuffer, num_threads=1)(x)  # XNNPACK, the interpreter's default
        assert got.shape == expected.shape and np.isfinite(got).all(), mode
        error = np.abs(got - expected).max() / np.abs(expected).max()
        assert error <= TOLERANCE[mode], f"{family} {mode}: relative error {error:.3g}"
        if mode == "int8":  # full integer: only the float32 input and output stay float
            assert sum(t == np.float32 for t in dtypes(flatbuffer)) == 2, family


def test_modes_store_the_weights_they_promise():
    model = small("convnet")
    calibration = np.random.default_rng(0).normal(size=(4, SIZE, SIZE, 3)).astype("float32")
    files = export_modes(model, calibration=calibration)
    size = {mode: len(flatbuffer) for mode, flatbuffer in files.items()}
    assert size["float16"] < 0.6 * size["float32"]
    assert size["dynamic-range"] < 0.35 * size["float32"] and size["int8"] < 0.35 * size["float32"]
    assert np.dtype("float16") in dtypes(files["float16"])
    dynamic = dtypes(files["dynamic-range"])
    assert np.dtype("int8") in dynamic and dynamic.count(np.dtype("float32")) > 2  # float activations


def test_per_tensor_gives_one_scale_per_weight_tensor():
    """The private converter flag really changes the file (checked on TF 2.21)."""
    model = small("mobilenet")
    calibration = np.random.default_rng(0).normal(size=(4, SIZE, SIZE, 3)).astype("float32")
    most = {}  # per_channel -> mode -> the most scales any tensor has
    for per_channel in (True, False):
        files = export_modes(model, ("int8", "dynamic-range"), calibration=calibration, per_channel=per_channel)
        most[per_channel] = {mode: max(len(d["quantization_parameters"]["scales"])
                                       for d in TFLiteRunner(flatbuffer).interpreter.get_tensor_details())
                             for mode, flatbuffer in files.items()}
    assert all(n > 1 for n in most[True].values()) and all(n == 1 for n in most[False].values()), most


def test_export_rejects_bad_options():
    model = small("convnet")
    with pytest.raises(ValueError, match="calibration"):
        export(model, "int8")
    with pytest.raises(ValueError, match="image_size=32"):
        export(model, "int8", calibration=np.zeros((2, 16, 16, 3), "float32"))
    with pytest.raises(ValueError, match="mode='int8'"):
        export(model, "float16", io="uint8")
    with pytest.raises(ValueError, match="calibration applies"):
        export(model, "dynamic-range", calibration=np.zeros((2, SIZE, SIZE, 3), "float32"))
    with pytest.raises(ValueError, match="per_channel"):
        export(model, "float16", per_channel=False)
    with pytest.raises(ValueError, match="mode"):
        export(model, "int4")


def test_time_tflite_reports_batch1_latency():
    flatbuffer = export(small("convnet"), "float32")
    for xnnpack in (True, False):
        timing = time_tflite(flatbuffer, threads=1, warmup=1, iters=5, xnnpack=xnnpack)
        assert 0 < timing["latency_ms"] <= timing["latency_p90_ms"]
        assert timing["threads"] == 1 and timing["iters"] == 5 and timing["xnnpack"] is xnnpack
    with pytest.raises(ValueError, match="iters"):
        time_tflite(flatbuffer, iters=0)


# --- a trained model: int8 keeps its top-1 -------------------------------------------------------

COLOURS = ((150, 100, 100), (100, 150, 100), (100, 100, 150))


def write_colour_folder(root, counts, seed=0):
    """3 classes of 32x32 images: a class colour, a per-image colour shift (std 25, so the
    classes overlap and top-1 stays below 100%) and pixel noise (std 30)."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        for label, colour in enumerate(COLOURS):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                shift = rng.normal(0, 25, 3)
                pixels = np.clip(np.array(colour) + shift + rng.normal(0, 30, (SIZE, SIZE, 3)), 0, 255)
                Image.fromarray(pixels.astype("uint8")).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A zoo checkpoint (0-255 input) of convnet width 0.25 trained for 8 epochs, and its test split."""
    import keras

    from zoo.checkpoint import save_checkpoint
    from zoo.data import load_dataset

    keras.utils.set_random_seed(0)
    root = write_colour_folder(tmp_path_factory.mktemp("colours") / "colours", {"train": 60, "test": 50})
    train = load_dataset(str(root), split="train")
    test = load_dataset(str(root), split="test")
    model = zoo.build("convnet", input_shape=(SIZE, SIZE, 3), num_classes=3, width=0.25)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(train.pipeline(16, training=True, augment="none"), epochs=8, shuffle=False, verbose=0)  # shuffled by the pipeline
    path = save_checkpoint(model, root.parent / "convnet.keras", class_names=train.class_names)
    return root, path, test


def test_int8_top1_is_within_tolerance_of_float(trained, tmp_path, record_property):
    """The issue's measurement: the int8 file exported by the CLI (calibrated on 64 train
    images) against the float32 file, both run by the interpreter on the 150 test images."""
    root, checkpoint, test = trained
    model = zoo.load_model(checkpoint, compile=False)
    assert input_kind(model) == "0-255"
    out = tmp_path / "int8.tflite"
    assert main(["export", str(checkpoint), "--tflite", str(out), "--int8", "--calibration", f"{root}:train",
                 "--calibration-images", "64"]) == 0
    float_top1 = evaluate_tflite(export_tflite(model), test, inputs="0-255")["top1"]
    result = evaluate_tflite(out, test, inputs="0-255", batch_size=7)  # batches of 7: a partial last one
    record_property("float32_top1", float_top1)
    record_property("int8_top1", result["top1"])
    print(f"float32 top-1 {float_top1:.3f}, int8 top-1 {result['top1']:.3f} ({result['examples']} images)")
    assert result["examples"] == 150 and result["size_bytes"] == out.stat().st_size
    assert float_top1 >= 0.6, "the model did not learn: the comparison would mean nothing"
    assert abs(result["top1"] - float_top1) <= INT8_TOP1_TOLERANCE
    streamed = zoo.data.load_dataset(str(root), split="test", storage="stream")  # how a large test split comes
    assert evaluate_tflite(out, streamed, inputs="0-255")["top1"] == result["top1"]
    keras_top1 = float(np.mean(model.predict(test.as_arrays()[0].astype("float32"), verbose=0).argmax(-1)
                               == test.as_arrays()[1]))
    assert abs(keras_top1 - float_top1) <= 1 / 150  # the float file is the Keras model


def test_integer_io_and_per_tensor_keep_top1(trained, record_property):
    """uint8 in and out takes 0-255 pixels as they are; per-tensor weights are the coarser option."""
    root, checkpoint, test = trained
    model = zoo.load_model(checkpoint, compile=False)
    train_images = calibration_images(zoo.data.load_dataset(str(root), split="train"), 64, inputs="0-255")
    reference = evaluate_tflite(export(model, "int8", calibration=train_images), test, inputs="0-255")["top1"]
    uint8 = export(model, "int8", calibration=train_images, io="uint8")
    runner = TFLiteRunner(uint8)
    assert runner.input_dtype == np.uint8 and runner.output_dtype == np.uint8
    assert not any(t == np.float32 for t in dtypes(uint8))
    per_tensor = export(model, "int8", calibration=train_images, per_channel=False)
    for name, flatbuffer in (("uint8_io", uint8), ("per_tensor", per_tensor)):
        top1 = evaluate_tflite(flatbuffer, test, inputs="0-255")["top1"]
        record_property(f"{name}_top1", top1)
        print(f"int8 top-1 {reference:.3f}, {name} {top1:.3f}")
        assert abs(top1 - reference) <= INT8_TOP1_TOLERANCE, name


def test_calibration_sample_is_seeded_and_preprocessed_like_the_pipeline(trained):
    root, _, _ = trained
    train = zoo.data.load_dataset(str(root), split="train")
    sample = calibration_images(train, 20, inputs="0-255", seed=3)
    np.testing.assert_array_equal(sample, calibration_images(train, 20, inputs="0-255", seed=3))
    assert len(calibration_images(train, 10_000)) == train.num_examples  # capped at the split
    images, labels = train.as_arrays()
    # 0-255: the exact pixels; a sample over the split, not its first (one-class) images
    rows = [int(np.flatnonzero((images == image.astype("uint8")).all(axis=(1, 2, 3)))[0]) for image in sample]
    assert rows == sorted(rows) and len(set(labels[rows])) == 3
    np.testing.assert_array_equal(sample, images[rows].astype("float32"))
    pipeline = next(iter(train.pipeline(train.num_examples, training=False)))[0].numpy()
    np.testing.assert_array_equal(calibration_images(train, 20, inputs="imagenet", seed=3), pipeline[rows])
    batches = list(model_batches(train, "imagenet", batch_size=50))
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), pipeline)


def test_evaluate_tflite_rejects_a_dataset_of_another_size(trained):
    _, checkpoint, _ = trained
    other = zoo.data.ImageDataset(np.zeros((2, 16, 16, 3), "uint8"), np.array([0, 1]), ["a", "b"],
                                  source="test", fingerprint="x")
    with pytest.raises(ValueError, match="image_size=32"):
        evaluate_tflite(export_tflite(zoo.load_model(checkpoint, compile=False)), other, inputs="0-255")
