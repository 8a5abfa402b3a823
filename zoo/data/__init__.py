"""Datasets for training and benchmarks: image folders first, TensorFlow Datasets as fallback.

    >>> from zoo.data import load_dataset, Subset
    >>> train = load_dataset("cifar10", split="train", subset=Subset(per_class=500, seed=0))
    >>> val = load_dataset("cifar10", split="test")
    >>> ds = train.pipeline(128, training=True, seed=0)   # (float32 NHWC, int32) batches

A name resolves FIRST to ``<data_dir or $ZOO_DATA_DIR>/<name>/<split>/<class>/<image>``
and only then to a TFDS dataset of that name. Every image is decoded once, up front, with
Pillow (so a bad file is named before training starts) and held in memory as uint8.

Pipeline output (decided once for the whole zoo; models contain no Rescaling layer):
float32 images scaled to [0, 1] and then normalised per channel with the fixed ImageNet
mean/std (``IMAGENET_MEAN``/``IMAGENET_STD``, as timm and torchvision do), and int32 labels.
Fixed constants rather than statistics of the training subset keep val/test inputs
independent of how the training subset was drawn.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.common import dataclass_from_table, invalid
from zoo.data import folder as _folder

DATA_DIR_ENV = "ZOO_DATA_DIR"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ON_BAD_IMAGE = ("error", "skip")
# A requested split -> the folder names accepted for it when its own folder is missing.
SPLIT_ALIASES = {"test": ("val", "validation"), "val": ("validation", "test"),
                 "validation": ("val", "test")}
_MAX_LISTED = 50  # bad paths shown in one error message


# --- subsets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subset:
    """Which part of a split to use; the same seed always picks the same images.

    ``classes`` keeps those classes, in that order (labels 0..k-1); by default all classes
    in sorted order. ``fraction`` keeps round(fraction * n) images of each class (at least
    one), then ``per_class`` caps the count. Images are drawn per class, independently of
    the other classes, from ``seed`` and the class name, before decoding: with
    ``on_bad_image="skip"`` a class can end up with fewer images than asked for (with none,
    loading fails and names the class).
    """

    classes: tuple[str, ...] | None = None
    per_class: int | None = None
    fraction: float | None = None
    seed: int = 0

    def __post_init__(self):
        if self.classes is not None:
            if isinstance(self.classes, str) or not isinstance(self.classes, Sequence) or not all(
                    isinstance(c, str) for c in self.classes) or not self.classes:
                raise invalid("Subset", "classes", self.classes, "a non-empty list of class names")
            if len(set(self.classes)) != len(self.classes):
                raise invalid("Subset", "classes", self.classes, "class names without repeats")
            object.__setattr__(self, "classes", tuple(self.classes))
        if self.per_class is not None and (isinstance(self.per_class, bool) or not isinstance(self.per_class, int)
                                           or self.per_class < 1):
            raise invalid("Subset", "per_class", self.per_class, "None or an integer >= 1")
        if self.fraction is not None and (isinstance(self.fraction, bool) or not isinstance(self.fraction, (int, float))
                                          or not 0 < self.fraction <= 1):
            raise invalid("Subset", "fraction", self.fraction, "None or a number in (0, 1]")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise invalid("Subset", "seed", self.seed, "an integer")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str) -> Subset:
        """Build from a spec-file table; ``source`` (e.g. "bench.toml [subset]") is named in errors."""
        return dataclass_from_table(cls, d, source, "subset")

    @property
    def is_everything(self) -> bool:
        return self.classes is None and self.per_class is None and self.fraction is None

    def pick_classes(self, available: Sequence[str], where: str) -> list[str]:
        if self.classes is None:
            return list(available)
        missing = [c for c in self.classes if c not in available]
        if missing:
            raise ValueError(f"Subset classes {missing} not found in {where}; available: {list(available)}")
        return list(self.classes)

    def pick(self, class_name: str, items: Sequence[Any]) -> list[Any]:
        """The chosen items of one class, in their original order."""
        n = len(items)
        k = n
        if self.fraction is not None:
            k = max(1, round(self.fraction * n))
        if self.per_class is not None:
            k = min(k, self.per_class)
        if k >= n:
            return list(items)
        rng = np.random.default_rng([self.seed, zlib.crc32(class_name.encode())])
        chosen = np.sort(rng.permutation(n)[:k])
        return [items[i] for i in chosen]


# --- name -> source -----------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where a (name, split) comes from: a split folder on disk, or a TFDS dataset."""

    kind: str  # "folder" | "tfds"
    location: str  # the split folder, or the TFDS name
    split: str  # the split actually used (after aliases)

    def __str__(self) -> str:
        return f"{self.kind}:{self.location}"


def _is_path_like(name) -> bool:
    return isinstance(name, os.PathLike) or os.sep in name or (os.altsep or "\0") in name or name.startswith(".")


def split_folder(root: Path, split: str) -> tuple[Path, str]:
    """``root/split``, or the one existing alias of it ("test" <-> "val" <-> "validation")."""
    if (root / split).is_dir():
        return root / split, split
    found = [a for a in SPLIT_ALIASES.get(split, ()) if (root / a).is_dir()]
    if len(found) == 1:
        return root / found[0], found[0]
    present = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    raise ValueError(f"dataset folder {root} has no {split!r} split; found sub-folders {present}. "
                     f"Expected layout: {root}/<split>/<class>/<image>")


def default_data_dir(explicit: str | os.PathLike | None = None) -> str | None:
    """The folder of image-folder datasets: ``explicit``, else ``$ZOO_DATA_DIR``, else None.
    The one place the variable is read."""
    if explicit is not None and str(explicit):
        return str(explicit)
    return os.environ.get(DATA_DIR_ENV) or None


def resolve_source(name: str | os.PathLike, split: str, data_dir: str | os.PathLike | None = None) -> Source:
    """Resolve a dataset name or folder path without loading anything.

    A path (contains a separator or starts with ".") must be a folder with split
    sub-folders. A bare name is looked up as ``<data_dir or $ZOO_DATA_DIR>/<name>`` first,
    then among TFDS datasets (checked offline via ``tfds.list_builders()``).
    """
    if not isinstance(name, (str, os.PathLike)) or not str(name):
        raise TypeError(f"dataset name must be a non-empty string or path, got {name!r}")
    if not isinstance(split, str) or not split:
        raise TypeError(f"split must be a non-empty string such as 'train' or 'test', got {split!r}")
    if _is_path_like(name):
        root = Path(name).expanduser()
        if not root.is_dir():
            raise ValueError(f"dataset folder {root} does not exist")
        path, used = split_folder(root, split)
        return Source("folder", str(path.resolve()), used)
    base = default_data_dir(data_dir)
    if base and (Path(base) / name).is_dir():
        path, used = split_folder(Path(base) / name, split)
        return Source("folder", str(path.resolve()), used)
    from zoo.data import tfds_source

    try:
        builders, tfds_note = tfds_source.tfds_builders(), ""
    except ImportError as err:  # say so: "no such dataset" would be wrong when TFDS itself is broken
        builders, tfds_note = [], f" (TensorFlow Datasets could not be imported: {err})"
    if name in builders:
        return Source("tfds", name, split)
    local = sorted(e.name for e in os.scandir(base) if e.is_dir()) if base and Path(base).is_dir() else []
    close = difflib.get_close_matches(name, local + builders, n=5, cutoff=0.6)
    where = (f"no folder {Path(base) / name}" if base
             else f"no data folder (pass data_dir= or set {DATA_DIR_ENV})")
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(f"Unknown dataset {name!r}: {where} and no TensorFlow Datasets dataset of that name"
                     f"{tfds_note}.{hint} Local datasets: {local or 'none'}.")


# --- the dataset --------------------------------------------------------------------------


class ImageDataset:
    """A decoded, in-memory image classification split and its tf.data pipeline."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                 source: str, fingerprint: str, skipped: Sequence[str] = (), split: str = ""):
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        if len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self._images = images
        self._labels = np.asarray(labels, dtype=np.int32)
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.num_examples = int(len(images))
        self.image_shape = tuple(int(s) for s in images.shape[1:])
        self.source = source
        self.fingerprint = fingerprint
        self.skipped = list(skipped)
        self.split = split
        self._tf_arrays = None

    def __repr__(self) -> str:
        return (f"ImageDataset({self.source!r}, split={self.split!r}, num_examples={self.num_examples}, "
                f"num_classes={self.num_classes}, image_shape={self.image_shape}, "
                f"fingerprint={self.fingerprint!r})")

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 images (N, H, W, 3), int32 labels (N,)), the decoded data itself (do not modify)."""
        return self._images, self._labels

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self._labels, minlength=self.num_classes)
        return dict(zip(self.class_names, counts.tolist()))

    def _tensors(self):
        # One host copy per dataset, shared by every pipeline made from it (a benchmark makes
        # one per run); kept on the CPU, where tf.data runs.
        if self._tf_arrays is None:
            import tensorflow as tf

            with tf.device("/cpu:0"):
                self._tf_arrays = (tf.constant(self._images), tf.constant(self._labels))
        return self._tf_arrays

    def _batch_images(self, idx):
        """uint8 (B, H, W, 3) images of the indices ``idx``: from memory here, from files when streaming."""
        import tensorflow as tf

        return tf.gather(self._tensors()[0], idx)

    def pipeline(self, batch_size: int, *, training: bool, seed: int = 0, augment: str = "auto",
                 drop_remainder: bool = False, normalize: bool = True):
        """A ``tf.data.Dataset`` of (float32 (B, H, W, 3), int32 (B,)) batches.

        ``training=True`` shuffles (a new order each epoch, the same sequence for a seed)
        and augments: "cifar" (4-pixel zero pad + random crop + flip), "imagenet" (random
        resized crop + flip), "none", or "auto" (cifar for images <= 32 px, else imagenet).
        ``training=False`` keeps file order and never augments. ``normalize=False`` yields
        [0, 1] floats instead of ImageNet-normalised ones.
        """
        import tensorflow as tf

        from zoo.data.augment import augment_batch, resolve_augment

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise invalid("pipeline", "batch_size", batch_size, "an integer >= 1")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise invalid("pipeline", "seed", seed, "an integer")
        kind = resolve_augment(augment, min(self.image_shape[:2]))
        if not training:
            kind = "none"
        gather, labels = self._batch_images, self._tensors()[1]
        mean = tf.constant(IMAGENET_MEAN, tf.float32) * 255.0
        std = tf.constant(IMAGENET_STD, tf.float32) * 255.0

        def to_float(x):
            x = tf.cast(x, tf.float32)
            return (x - mean) / std if normalize else x / 255.0

        ds = tf.data.Dataset.range(self.num_examples)
        if training:
            ds = ds.shuffle(self.num_examples, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        if kind == "none":
            ds = ds.map(lambda idx: (to_float(gather(idx)), tf.gather(labels, idx)),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            # One stateless seed per batch, a different stream each epoch, the same for a seed.
            batch_seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(2)
            ds = tf.data.Dataset.zip((ds, batch_seeds)).map(
                lambda idx, s: (to_float(augment_batch(gather(idx), s, kind)), tf.gather(labels, idx)),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)


# --- loading ------------------------------------------------------------------------------


def _check_args(split, subset, image_size, on_bad_image) -> Subset:
    if on_bad_image not in ON_BAD_IMAGE:
        raise invalid("load_dataset", "on_bad_image", on_bad_image, f"one of {list(ON_BAD_IMAGE)}")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or image_size < 1):
        raise invalid("load_dataset", "image_size", image_size, "None (native size) or an integer >= 1")
    if subset is None:
        return Subset()
    if isinstance(subset, Mapping):
        return Subset.from_dict(subset, "load_dataset(subset=...)")
    if not isinstance(subset, Subset):
        raise TypeError(f"subset must be a zoo.data.Subset or a dict, got {type(subset).__name__}")
    return subset


def load_dataset(name: str | os.PathLike, *, split: str, data_dir: str | os.PathLike | None = None,
                 subset: Subset | None = None, image_size: int | None = None,
                 on_bad_image: str = "error", cache: bool = True, download: bool = True,
                 storage: str = "auto") -> ImageDataset:
    """Load one split of a dataset: decoded into memory, or streamed from its files.

    Args:
        name: a folder path (``"./data/pets"``, with ``<split>/<class>/<image>`` inside) or a
            name: ``<data_dir or $ZOO_DATA_DIR>/<name>`` if that folder exists, else the TFDS
            dataset of that name (downloaded on first use into TFDS's own store, see ``download``).
        split: "train", "test", "val"/"validation" (aliases of each other when the folder has
            only one of them).
        subset: which classes and how many images per class (see ``Subset``); None = all.
        image_size: resize every image to image_size x image_size (bilinear, antialiased);
            None keeps the native size, which must then be the same for all images.
        on_bad_image: "error" raises one ValueError listing every unreadable/truncated file
            before anything trains; "skip" leaves them out, warns, and lists them in ``skipped``.
        cache: reuse/write the decoded-array cache (``$ZOO_CACHE_DIR`` or ``~/.cache/zoo``)
            for splits that take more than ``folder.CACHE_MIN_SECONDS`` to decode.
        download: whether a TFDS dataset not yet in TFDS's store may be downloaded. False (a
            dry run) uses prepared data only and otherwise raises FileNotFoundError naming
            the URL and the store, without touching the network. Image folders ignore it.
            Offline, True fails within seconds (``tfds_source.probe``), never retries for minutes.
        storage: "memory" decodes the split once into RAM; "stream" keeps only the file list and
            decodes each batch as it trains (``zoo.data.stream``: same pixels, same order, same
            augmentation); "auto" (default) streams an image folder whose decoded size would exceed
            ``stream.memory_budget()`` (a quarter of RAM, or ``$ZOO_MEMORY_BUDGET_GB``). TFDS
            datasets load into memory.

    Raises ValueError for data a classifier cannot train on (fewer than 2 classes, a class
    with no readable image), naming the folder, before anything trains.
    """
    subset = _check_args(split, subset, image_size, on_bad_image)
    if not isinstance(download, bool):
        raise invalid("load_dataset", "download", download, "True or False")
    from zoo.data.stream import STORAGE

    if storage not in STORAGE:
        raise invalid("load_dataset", "storage", storage, f"one of {list(STORAGE)}")
    src = resolve_source(name, split, data_dir)
    if src.kind == "tfds":
        return _load_tfds(src, subset, image_size, download)
    return _load_folder(src, subset, image_size, on_bad_image, cache, storage)


def _check_two_classes(kept: Sequence[str], available: Sequence[str], where: str, layout: str) -> None:
    """A classifier needs >= 2 classes: say so when loading (and so in a dry run), not when training."""
    if len(kept) >= 2:
        return
    if len(available) < 2:
        raise ValueError(f"{where} has {len(available)} class {list(available)}; a classifier needs at least "
                         f"2 classes ({layout})")
    raise ValueError(f"Subset classes {list(kept)} keep 1 class of {where}; a classifier needs at least 2; "
                     f"available: {list(available)}")


def _load_folder(src: Source, subset: Subset, image_size, on_bad_image, cache, storage="memory") -> ImageDataset:
    root = Path(src.location)
    available = _folder.list_classes(root)
    if not available:
        loose = sum(1 for e in os.scandir(root) if e.is_file() and _folder.is_image_file(e.name))
        found = f" but {loose} images directly inside it" if loose else ""
        raise ValueError(f"{root} has no class folders{found}; expected {root}/<class>/<image>")
    class_names = subset.pick_classes(available, str(root))
    _check_two_classes(class_names, available, str(root), f"one folder per class: {root}/<class>/<image>")
    per_class = [subset.pick(c, _folder.list_class_files(root, c)) for c in class_names]
    empty = [str(root / c) for c, files in zip(class_names, per_class) if not files]
    if empty:
        raise ValueError(f"class folder(s) {', '.join(empty)} contain no images; every class needs at least "
                         f"one (extensions: {sorted(_folder.IMAGE_EXTENSIONS)})")
    file_list = _folder.make_file_list(root, class_names, per_class)
    if storage == "auto":
        storage = "stream" if _decoded_bytes(root, file_list, image_size) > _stream.memory_budget() else "memory"
    if storage == "stream":
        errors, shapes = _stream.verify_files([root / rel for rel in file_list.files], image_size,
                                              f"checking {root.parent.name}/{root.name}")
        decoded = None
    else:
        decoded, errors, _ = _folder.decode_cached(file_list, image_size, use_cache=cache)

    bad = [(rel, err) for rel, err in zip(file_list.files, errors) if err is not None]
    if bad and on_bad_image == "error":
        listed = "\n".join(f"  {root / rel}  ({err})" for rel, err in bad[:_MAX_LISTED])
        more = f"\n  ... and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise ValueError(f"{len(bad)} of {len(file_list.files)} images in {root} could not be decoded:\n"
                         f"{listed}{more}\nFix or delete them, or pass on_bad_image='skip' to leave them out.")
    _check_skip_left_every_class(root, class_names, file_list, errors)
    skipped = [str(root / rel) for rel, _ in bad]
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image(s) in {root}: "
                      f"{', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''}", stacklevel=3)
    if storage == "stream":
        keep = [i for i, err in enumerate(errors) if err is None]
        if len(shapes) > 1:
            raise ValueError(f"images in {root} have different sizes ({sorted(shapes)[:3]}); "
                             f"pass image_size=N to resize them all to N x N")
        return _stream.StreamingImageDataset([root / file_list.files[i] for i in keep],
                                             [file_list.labels[i] for i in keep], class_names, next(iter(shapes)),
                                             source=str(src), fingerprint=file_list.fingerprint(),
                                             skipped=skipped, split=src.split)
    if isinstance(decoded, np.ndarray):  # a cache hit: validated and stacked when it was written
        return ImageDataset(decoded, np.asarray(file_list.labels, np.int32), class_names, source=str(src),
                            fingerprint=file_list.fingerprint(), skipped=[], split=src.split)
    keep = [i for i, err in enumerate(errors) if err is None]
    shapes = {}
    for i in keep:
        shapes.setdefault(decoded[i].shape, file_list.files[i])
    if len(shapes) > 1:
        examples = ", ".join(f"{root / rel} is {s[1]}x{s[0]}" for s, rel in list(shapes.items())[:3])
        raise ValueError(f"images in {root} have different sizes ({examples}); "
                         f"pass image_size=N to resize them all to N x N")
    images = np.stack([decoded[i] for i in keep])
    labels = np.asarray([file_list.labels[i] for i in keep], dtype=np.int32)
    return ImageDataset(images, labels, class_names, source=str(src), fingerprint=file_list.fingerprint(),
                        skipped=skipped, split=src.split)


def _decoded_bytes(root: Path, file_list, image_size) -> int:
    """What a split would take decoded (uint8 RGB); the first image's size when not resized."""
    if image_size is not None:
        return len(file_list.files) * image_size * image_size * 3
    from PIL import Image

    try:
        with Image.open(root / file_list.files[0]) as im:  # the header only
            width, height = im.size
    except Exception:  # noqa: BLE001 - an unreadable first file: the in-memory path reports it
        return 0
    return len(file_list.files) * width * height * 3


def _check_skip_left_every_class(root: Path, class_names, file_list, errors) -> None:
    """With on_bad_image="skip", a class whose chosen files are all unreadable would train as a
    class with no examples; name it and its files instead."""
    readable = {label for label, err in zip(file_list.labels, errors) if err is None}
    emptied = [label for label in range(len(class_names)) if label not in readable]
    if not emptied:
        return
    parts = []
    for label in emptied:
        files = [str(root / rel) for rel, lab in zip(file_list.files, file_list.labels) if lab == label]
        listed = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        parts.append(f"{class_names[label]!r} (all {len(files)} chosen file(s) unreadable: {listed})")
    raise ValueError(f"on_bad_image='skip' leaves class(es) {[class_names[i] for i in emptied]} in {root} with no "
                     f"images: {'; '.join(parts)}. Fix or replace those files, or leave the class out with "
                     f"Subset(classes=...)")


def _load_tfds(src: Source, subset: Subset, image_size, download: bool) -> ImageDataset:
    from zoo.data import tfds_source

    # TFDS keeps its own store ($TFDS_DATA_DIR or ~/tensorflow_datasets), never data_dir: a
    # TFDS folder <data_dir>/<name>/ would later shadow the name as a (broken) image folder.
    tfds_dir = os.environ.get("TFDS_DATA_DIR")
    all_names = tfds_source.class_names(src.location, tfds_dir)  # offline: checked before any download
    class_names = subset.pick_classes(all_names, str(src))
    _check_two_classes(class_names, all_names, str(src), "TFDS label names")
    images, labels, all_names, real_split = tfds_source.load_tfds_arrays(
        src.location, src.split, tfds_dir, download=download)
    keep, empty = [], []
    for new_label, c in enumerate(class_names):
        idx = np.flatnonzero(labels == all_names.index(c)).tolist()
        if not idx:
            empty.append(c)
        keep.extend((i, new_label) for i in subset.pick(c, idx))
    if empty:
        raise ValueError(f"{src} split {real_split!r} has no images of class(es) {empty}; every class needs at "
                         f"least one: leave them out with Subset(classes=...)")
    keep.sort()
    if image_size is not None:
        from PIL import Image

        def resize(a):
            im = Image.fromarray(a)
            return np.asarray(im.resize((image_size, image_size), Image.Resampling.BILINEAR)) \
                if im.size != (image_size, image_size) else a
        images = [resize(images[i]) for i, _ in keep]
    else:
        images = [images[i] for i, _ in keep]
        if len({a.shape for a in images}) > 1:
            raise ValueError(f"{src} images have different sizes; pass image_size=N")
    new_labels = np.asarray([lab for _, lab in keep], np.int32)
    h = hashlib.sha256(f"{src}\t{real_split}\t{len(keep)}\t{class_names}".encode())
    h.update(np.asarray([i for i, _ in keep], np.int64).tobytes())
    return ImageDataset(np.stack(images), new_labels, class_names, source=str(src),
                        fingerprint=h.hexdigest()[:16], split=real_split)


from zoo.data import stream as _stream  # noqa: E402  (needs ImageDataset, defined above)

__all__ = ["DATA_DIR_ENV", "IMAGENET_MEAN", "default_data_dir", "IMAGENET_STD", "ImageDataset", "Source", "Subset",
           "load_dataset", "resolve_source", "split_folder"]
