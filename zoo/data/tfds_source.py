"""TensorFlow Datasets as a fallback source, for names with no local image folder.

Kept thin on purpose: the tests cover the name -> source resolution (offline, through
``tfds.list_builders()``) but never run ``tfds.load``, which needs a network the first
time. Downloads are refused under pytest, so a test can never fetch data by accident.
"""

from __future__ import annotations

import os

import numpy as np

# Our split names -> TFDS split names, tried in order.
TFDS_SPLITS = {"train": ("train",), "val": ("validation", "test"), "validation": ("validation", "test"),
               "test": ("test", "validation")}


def tfds_builders() -> list[str]:
    """Names TFDS knows (works offline: the list ships with the package)."""
    import tensorflow_datasets as tfds

    return list(tfds.list_builders())


def tfds_split(name: str, split: str, data_dir: str | None) -> str:
    """The TFDS split for one of ours, e.g. "val" -> "validation" (or "test" when that is all there is)."""
    import tensorflow_datasets as tfds

    available = set(tfds.builder(name, data_dir=data_dir).info.splits.keys())
    for candidate in TFDS_SPLITS.get(split, (split,)):
        if candidate in available:
            return candidate
    raise ValueError(f"tfds:{name} has no split {split!r}; available: {sorted(available)}")


def load_tfds_arrays(name: str, split: str, data_dir: str | None):
    """Download (first time) and prepare a TFDS dataset; returns (uint8 images list, labels, class names)."""
    import tensorflow_datasets as tfds

    download = "PYTEST_CURRENT_TEST" not in os.environ  # tests must never download
    builder = tfds.builder(name, data_dir=data_dir)
    if download:
        builder.download_and_prepare()
    elif not os.path.isdir(builder.data_dir):
        raise ValueError(f"tfds:{name} is not prepared under {builder.data_dir} and downloads are off in tests")
    real_split = tfds_split(name, split, data_dir)
    ds = builder.as_dataset(split=real_split, as_supervised=True, shuffle_files=False)
    images, labels = [], []
    for image, label in tfds.as_numpy(ds):
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        images.append(np.asarray(image[..., :3], dtype=np.uint8))
        labels.append(int(label))
    label_feature = builder.info.features["label"]
    return images, np.asarray(labels, np.int32), list(label_feature.names), real_split
