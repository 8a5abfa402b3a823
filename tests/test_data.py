"""zoo.data: image folders of every common kind, bad files, subsets, splits, names, pipeline."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.data import Subset, folder, load_dataset, resolve_source

SIZE = 8


def _save(path: Path, value: int, *, mode: str = "RGB", fmt: str | None = None, size: int = SIZE):
    """An image whose pixels all hold ``value``, so a test can tell images apart after decoding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = {"RGB": (value,) * 3, "RGBA": (value,) * 3 + (128,), "L": value, "P": value}[mode]
    Image.new(mode, (size, size), color).save(path, format=fmt)


def _truncated_jpeg(path: Path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _class_folders(root: Path, per_class: int, classes=("cat", "dog house")):
    for label, name in enumerate(classes):
        for i in range(per_class):
            _save(root / name / f"img{i:03d}.png", 100 * label + i)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Every format and mode we promise to read, plus files that must be ignored."""
    root = tmp_path_factory.mktemp("mixed")
    cat, dog = root / "train" / "cat", root / "train" / "dog house"
    _save(cat / "a.jpg", 10)
    _save(cat / "B.JPG", 20, fmt="JPEG")
    _save(cat / "c.Jpeg", 30, fmt="JPEG")
    _save(cat / "gray.jpg", 40, mode="L")
    _save(dog / "rgb.png", 50)
    _save(dog / "alpha.PNG", 60, mode="RGBA", fmt="PNG")
    _save(dog / "palette.gif", 70, mode="P")
    _save(dog / "bitmap.bmp", 80)
    (dog / "notes.txt").write_text("not an image")
    (dog / ".DS_Store").write_bytes(b"\0\1\2")
    (dog / "._rgb.png").write_bytes(b"AppleDouble junk")
    (root / "train" / ".hidden_class").mkdir()
    return root


def test_reads_every_format_and_ignores_stray_files(mixed):
    ds = load_dataset(mixed, split="train")
    assert ds.class_names == ["cat", "dog house"]
    assert ds.num_examples == 8 and ds.num_classes == 2
    assert ds.image_shape == (SIZE, SIZE, 3)
    assert ds.skipped == [] and ds.source.startswith("folder:")
    images, labels = ds.as_arrays()
    assert images.dtype == np.uint8 and labels.tolist() == [0] * 4 + [1] * 4
    gray = images[3]  # cat/gray.jpg: single channel -> three equal channels
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("broken")
    _class_folders(root / "train", 3)
    _truncated_jpeg(root / "train" / "cat" / "cut.jpg")
    (root / "train" / "dog house" / "fake.jpg").write_text("not a JPEG")
    return root


def test_truncated_image_is_named_before_training(broken):
    with pytest.raises(ValueError) as err:
        load_dataset(broken, split="train")
    message = str(err.value)
    assert str(broken / "train" / "cat" / "cut.jpg") in message
    assert str(broken / "train" / "dog house" / "fake.jpg") in message
    assert "on_bad_image='skip'" in message and "2 of 8" in message


def test_skip_mode_reports_the_skipped_file(broken):
    with pytest.warns(UserWarning, match="cut.jpg"):
        ds = load_dataset(broken, split="train", on_bad_image="skip")
    assert ds.skipped == [str(broken / "train" / "cat" / "cut.jpg"),
                          str(broken / "train" / "dog house" / "fake.jpg")]
    assert ds.num_examples == 6


def test_bad_arguments_fail_fast(mixed):
    with pytest.raises(ValueError, match="on_bad_image='ignore'.*'error', 'skip'"):
        load_dataset(mixed, split="train", on_bad_image="ignore")
    with pytest.raises(ValueError, match="image_size"):
        load_dataset(mixed, split="train", image_size=0)
    with pytest.raises(ValueError, match=r"no 'tset' split; found sub-folders \['train'\]"):
        load_dataset(mixed, split="tset")
    with pytest.raises(ValueError, match=r"Subset classes \['bird'\] not found"):
        load_dataset(mixed, split="train", subset=Subset(classes=("bird",)))


# --- data a classifier cannot train on fails when loading (so a dry run fails too) ---------


def test_skip_that_empties_a_class_names_the_class_and_its_files(tmp_path):
    _class_folders(tmp_path / "train", 2, classes=("bird", "dog"))
    (tmp_path / "train" / "cat").mkdir()
    _truncated_jpeg(tmp_path / "train" / "cat" / "cut.jpg")
    (tmp_path / "train" / "cat" / "fake.jpg").write_text("not a JPEG")
    with pytest.raises(ValueError) as err:
        load_dataset(tmp_path, split="train", on_bad_image="skip")
    message = str(err.value)
    assert "on_bad_image='skip' leaves class(es) ['cat']" in message and "\n" not in message
    assert str(tmp_path / "train" / "cat" / "cut.jpg") in message
    assert str(tmp_path / "train" / "cat" / "fake.jpg") in message
    assert "Subset(classes=...)" in message
    ds = load_dataset(tmp_path, split="train", on_bad_image="skip", subset=Subset(classes=["bird", "dog"]))
    assert ds.num_examples == 4 and ds.skipped == []  # leaving the class out is the way round it


def test_one_class_is_refused_at_load_time(tmp_path):
    _class_folders(tmp_path / "train", 2, classes=("only",))
    with pytest.raises(ValueError, match=r"train has 1 class \['only'\]; a classifier needs at least 2 classes "
                                         r"\(one folder per class: .*train/<class>/<image>\)"):
        load_dataset(tmp_path, split="train")
    _class_folders(tmp_path / "train", 2, classes=("other",))
    with pytest.raises(ValueError, match=r"Subset classes \['other'\] keep 1 class of .*train; a classifier "
                                         r"needs at least 2; available: \['only', 'other'\]"):
        load_dataset(tmp_path, split="train", subset=Subset(classes=["other"]))


def test_empty_split_and_class_folders_are_named(tmp_path):
    split = tmp_path / "train"
    for i in range(3):
        _save(split / f"loose{i}.png", i)  # images without class folders
    with pytest.raises(ValueError, match=r"train has no class folders but 3 images directly inside it; "
                                         r"expected .*train/<class>/<image>"):
        load_dataset(tmp_path, split="train")
    _class_folders(split, 1, classes=("cat", "dog"))
    (split / "empty").mkdir()
    (split / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError) as err:
        load_dataset(tmp_path, split="train")
    assert f"class folder(s) {split / 'empty'} contain no images" in str(err.value)


def test_mixed_sizes_need_image_size(tmp_path):
    _save(tmp_path / "train" / "a" / "small.png", 1, size=8)
    _save(tmp_path / "train" / "b" / "large.png", 2, size=12)
    with pytest.raises(ValueError, match="different sizes.*image_size=N"):
        load_dataset(tmp_path, split="train")
    ds = load_dataset(tmp_path, split="train", image_size=6)
    assert ds.image_shape == (6, 6, 3)
    assert ds.as_arrays()[0][1].min() == ds.as_arrays()[0][1].max() == 2  # bilinear keeps a flat colour


@pytest.fixture(scope="module")
def twenty(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("twenty")
    _class_folders(root / "train", 20)
    _class_folders(root / "val", 4)
    return root


def test_subsets_are_deterministic_per_seed(twenty):
    def values(subset):
        ds = load_dataset(twenty, split="train", subset=subset)
        return ds.as_arrays()[0][:, 0, 0, 0].tolist(), ds.fingerprint

    a, fa = values(Subset(per_class=5, seed=0))
    b, fb = values(Subset(per_class=5, seed=0))
    c, fc = values(Subset(per_class=5, seed=1))
    assert a == b and fa == fb
    assert a != c and fa != fc
    assert len(a) == 10
    assert len(values(Subset(fraction=0.5))[0]) == 20
    assert len(values(Subset(fraction=0.5, per_class=3))[0]) == 6


def test_class_order_sets_labels(twenty):
    ds = load_dataset(twenty, split="train", subset=Subset(classes=["dog house", "cat"], per_class=2))
    images, labels = ds.as_arrays()
    assert ds.class_names == ["dog house", "cat"]
    assert labels.tolist() == [0, 0, 1, 1]
    assert (images[:2, 0, 0, 0] >= 100).all() and (images[2:, 0, 0, 0] < 100).all()  # dog house: 100+


def test_subset_from_dict_names_the_bad_key():
    assert Subset.from_dict({"per_class": 3, "classes": ["a"]}, "s.toml").classes == ("a",)
    with pytest.raises(ValueError, match=r"s\.toml: unknown subset key 'per_clas' \(did you mean 'per_class'\?\)"):
        Subset.from_dict({"per_clas": 3}, "s.toml")
    with pytest.raises(ValueError, match=r"s\.toml: Subset: invalid fraction=1.5"):
        Subset.from_dict({"fraction": 1.5}, "s.toml")
    with pytest.raises(ValueError, match="per_class"):
        Subset(per_class=0)


def test_split_aliases(twenty, tmp_path):
    for alias in ("val", "test", "validation"):
        assert resolve_source(twenty, alias).location.endswith(os.sep + "val")
    _class_folders(tmp_path / "test", 1)
    _class_folders(tmp_path / "val", 1)
    assert resolve_source(tmp_path, "test").split == "test"  # both exist: no aliasing
    assert resolve_source(tmp_path, "val").split == "val"


def test_names_resolve_through_env_and_data_dir(twenty, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(twenty.parent))
    ds = load_dataset(twenty.name, split="test")
    assert ds.num_examples == 8 and ds.split == "val"
    other = tmp_path / "data"
    _class_folders(other / twenty.name / "train", 1, classes=("x", "y"))
    assert load_dataset(twenty.name, split="train", data_dir=other).class_names == ["x", "y"]  # data_dir wins


def test_unknown_name_is_a_clear_error_and_tfds_names_resolve(tmp_path, monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    (tmp_path / "flowers_local").mkdir()
    with pytest.raises(ValueError, match=r"Unknown dataset 'cifar1o'.*Did you mean:.*cifar10"):
        resolve_source("cifar1o", "train", data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"pass data_dir= or set ZOO_DATA_DIR"):
        resolve_source("no_such_dataset_xyz", "train")
    # A TFDS name with no local folder resolves to TFDS (nothing is downloaded here).
    source = resolve_source("mnist", "test", data_dir=tmp_path)
    assert (source.kind, str(source)) == ("tfds", "tfds:mnist")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises(FileNotFoundError, match=r"tfds:mnist is not prepared.*\(download=False\)"):
        load_dataset("mnist", split="test", data_dir=tmp_path, download=False)


def test_decoded_cache_roundtrip(twenty, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(folder, "CACHE_MIN_SECONDS", -1.0)  # cache even this tiny split
    first = load_dataset(twenty, split="val")
    cached = list((tmp_path / "decoded").glob("*.npz"))
    assert len(cached) == 1
    second = load_dataset(twenty, split="val")
    assert np.array_equal(first.as_arrays()[0], second.as_arrays()[0])
    assert np.array_equal(first.as_arrays()[1], second.as_arrays()[1])
    os.utime(next((twenty / "val" / "cat").iterdir()), ns=(1, 1))  # an edited file: new key
    load_dataset(twenty, split="val")
    assert len(list((tmp_path / "decoded").glob("*.npz"))) == 2


def test_cache_remembers_bad_files(broken, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(folder, "CACHE_MIN_SECONDS", -1.0)
    with pytest.warns(UserWarning):
        first = load_dataset(broken, split="train", on_bad_image="skip")
    assert len(list((tmp_path / "decoded").glob("*.npz"))) == 1
    with pytest.warns(UserWarning):
        again = load_dataset(broken, split="train", on_bad_image="skip")
    assert again.skipped == first.skipped and np.array_equal(again.as_arrays()[0], first.as_arrays()[0])
    with pytest.raises(ValueError, match="cut.jpg"):
        load_dataset(broken, split="train")


def test_pipeline_batches_shuffle_and_augment(twenty):
    import tensorflow as tf

    ds = load_dataset(twenty, split="train", subset=Subset(per_class=8))

    def epoch_labels(pipe):
        return np.concatenate([y.numpy() for _, y in pipe]).tolist()

    x, y = next(iter(ds.pipeline(4, training=True, seed=0, augment="cifar")))
    assert x.dtype == tf.float32 and y.dtype == tf.int32 and tuple(x.shape) == (4, SIZE, SIZE, 3)
    pipe = ds.pipeline(4, training=True, seed=0, augment="cifar")
    first, second = epoch_labels(pipe), epoch_labels(pipe)
    assert sorted(first) == [0] * 8 + [1] * 8 and first != second  # reshuffled each epoch
    assert first == epoch_labels(ds.pipeline(4, training=True, seed=0, augment="cifar"))  # same seed
    assert first != epoch_labels(ds.pipeline(4, training=True, seed=1, augment="cifar"))

    plain = next(iter(ds.pipeline(16, training=False, normalize=False)))[0].numpy()
    raw = ds.as_arrays()[0].astype(np.float32) / 255
    assert np.allclose(plain, raw)  # eval: file order, no augmentation
    padded = next(iter(ds.pipeline(16, training=True, seed=0, augment="cifar", normalize=False)))[0].numpy()
    assert (padded == 0).any()  # flat-colour images only get zeros from the crop's padding
    with pytest.raises(ValueError, match="augment='flip'"):
        ds.pipeline(4, training=True, augment="flip")


def test_random_resized_crop_keeps_shape_and_values():
    import tensorflow as tf

    from zoo.data.augment import augment_batch

    images = tf.fill([3, 16, 16, 3], tf.constant(7, tf.uint8))
    out = augment_batch(images, tf.constant([1, 2], tf.int64), "imagenet")
    assert out.shape == (3, 16, 16, 3) and out.dtype == tf.uint8
    assert int(tf.reduce_min(out)) == int(tf.reduce_max(out)) == 7


@pytest.mark.data
def test_real_shared_data(shared_data):
    train = load_dataset("cifar10", split="train", data_dir=shared_data, subset=Subset(per_class=20))
    assert (train.num_examples, train.num_classes, train.image_shape) == (200, 10, (32, 32, 3))
    assert train.class_names[:2] == ["airplane", "automobile"]
    val = load_dataset("tiny-imagenet-10", split="test", data_dir=shared_data)  # only val/ exists
    assert (val.num_examples, val.num_classes, val.image_shape, val.split) == (500, 10, (64, 64, 3), "val")
    # Grayscale JPEGs are in train/ (29 of them, e.g. in n02099601): they arrive as 3 equal channels.
    gray_class = load_dataset("tiny-imagenet-10", split="train", data_dir=shared_data,
                              subset=Subset(classes=["n02099601", "n01443537"]))  # a classifier needs 2
    assert gray_class.image_shape == (64, 64, 3)
    images = gray_class.as_arrays()[0].astype(int)
    grayscale = ((images[..., 0] == images[..., 1]) & (images[..., 1] == images[..., 2])).all(axis=(1, 2))
    assert grayscale.any()


# --- streaming from files -------------------------------------------------------------------


def _batches(ds, epochs=2):
    return [(np.asarray(x), np.asarray(y)) for _ in range(epochs) for x, y in ds]


@pytest.mark.parametrize("augment", ["cifar", "imagenet", "none"])
def test_streaming_pipeline_equals_the_in_memory_one(twenty, augment):
    """Streaming decodes each batch from its files with the same decoder: the same pixels, the
    same shuffled order and the same augmentation for a seed, epoch after epoch."""
    from zoo.data.stream import StreamingImageDataset

    memory = load_dataset(twenty, split="train", image_size=24, storage="memory")
    stream = load_dataset(twenty, split="train", image_size=24, storage="stream")
    assert isinstance(stream, StreamingImageDataset) and not isinstance(memory, StreamingImageDataset)
    assert (stream.num_examples, stream.image_shape, stream.class_names, stream.fingerprint) == \
        (memory.num_examples, memory.image_shape, memory.class_names, memory.fingerprint)
    a = _batches(memory.pipeline(8, training=True, seed=3, augment=augment))
    b = _batches(stream.pipeline(8, training=True, seed=3, augment=augment))
    assert len(a) == len(b) == 2 * 5
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][1], a[5][1])  # a new order in epoch 2, in both


def test_streaming_reports_bad_images_before_training(broken):
    with pytest.raises(ValueError, match="could not be decoded"):
        load_dataset(broken, split="train", storage="stream")
    with pytest.warns(UserWarning, match="skipped 2"):
        data = load_dataset(broken, split="train", storage="stream", on_bad_image="skip")
    assert data.num_examples == 6 and len(data.skipped) == 2
    assert len(_batches(data.pipeline(4, training=False), epochs=1)) == 2


def test_auto_streams_past_the_memory_budget(twenty, monkeypatch):
    from zoo.data.stream import StreamingImageDataset

    assert not isinstance(load_dataset(twenty, split="train", image_size=16), StreamingImageDataset)
    monkeypatch.setenv("ZOO_MEMORY_BUDGET_GB", str(40 * 16 * 16 * 3 / 2**30 * 0.5))  # half of what 40 images need
    assert isinstance(load_dataset(twenty, split="train", image_size=16), StreamingImageDataset)
    monkeypatch.setenv("ZOO_MEMORY_BUDGET_GB", "lots")
    with pytest.raises(ValueError, match="ZOO_MEMORY_BUDGET_GB='lots'"):
        load_dataset(twenty, split="train", image_size=16)
    with pytest.raises(ValueError, match="storage='disk'"):
        load_dataset(twenty, split="train", storage="disk")
