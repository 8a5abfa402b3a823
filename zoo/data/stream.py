"""Splits too large for memory: the same pipeline, images decoded from their files batch by batch.

``StreamingImageDataset`` keeps only the file list and labels. Its tf.data pipeline is the
in-memory one (same shuffle, same per-batch augmentation seeds) with one difference: a batch's
images are decoded from disk, in parallel, by the same Pillow function that fills memory for
the in-memory path, so the pixels, and therefore training, are identical. Unreadable files
are found before training by one parallel verification pass (``verify_files``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from zoo.data import ImageDataset
from zoo.data import folder as image_files

STORAGE = ("auto", "memory", "stream")
MEMORY_BUDGET_ENV = "ZOO_MEMORY_BUDGET_GB"
DEFAULT_MEMORY_SHARE = 0.25  # of physical RAM: "auto" streams a split whose decoded size exceeds it


def memory_budget() -> int:
    """Bytes a decoded split may take before ``storage="auto"`` streams it: ``$ZOO_MEMORY_BUDGET_GB``,
    else a quarter of physical memory."""
    value = os.environ.get(MEMORY_BUDGET_ENV)
    if value:
        try:
            gigabytes = float(value)
        except ValueError:
            gigabytes = -1.0
        if not gigabytes > 0:
            raise ValueError(f"invalid {MEMORY_BUDGET_ENV}={value!r}; allowed: a number of gigabytes > 0")
        return int(gigabytes * 2**30)
    try:
        return int(DEFAULT_MEMORY_SHARE * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 8 GB of RAM
        return int(DEFAULT_MEMORY_SHARE * 8 * 2**30)


def verify_files(paths: Sequence[Path], image_size: int | None, desc: str) -> tuple[list[str | None], set]:
    """Decode every file once, keeping nothing but each one's error (None when readable) and the
    set of decoded shapes: the bad-image report of the in-memory path, without the memory."""
    from tqdm.auto import tqdm

    def check(path):
        try:
            return None, image_files.decode_image(path, image_size).shape
        except Exception as err:  # noqa: BLE001 - any decoder failure is a bad file, reported by path
            return f"{type(err).__name__}: {err}", None

    with ThreadPoolExecutor(image_files.DECODE_WORKERS) as pool:
        results = list(tqdm(pool.map(check, paths, chunksize=64), total=len(paths), unit="img", desc=desc,
                            leave=False, disable=len(paths) < image_files.PROGRESS_MIN_FILES))
    return [err for err, _ in results], {shape for _, shape in results if shape is not None}


class StreamingImageDataset(ImageDataset):
    """A split read from its files as it trains. Its ``pipeline`` is ImageDataset's, line for
    line: only ``_batch_images`` (decode the batch's files) and the storage differ."""

    def __init__(self, paths: Sequence[Path], labels, class_names: Sequence[str], image_shape, *,
                 source: str, fingerprint: str, skipped: Sequence[str] = (), split: str = ""):
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} files but {len(labels)} labels")
        self._paths = [str(p) for p in paths]
        self._labels = np.asarray(labels, dtype=np.int32)
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.num_examples = len(self._paths)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.source, self.fingerprint, self.skipped, self.split = source, fingerprint, list(skipped), split
        self._label_tensor = None

    def __repr__(self) -> str:
        return (f"StreamingImageDataset({self.source!r}, split={self.split!r}, num_examples={self.num_examples}, "
                f"num_classes={self.num_classes}, image_shape={self.image_shape})")

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self._labels, minlength=self.num_classes)
        return dict(zip(self.class_names, counts.tolist()))

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Everything decoded at once (what streaming avoids): for small splits and tests."""
        return self._decode(np.arange(self.num_examples)), self._labels

    def _decode(self, idx) -> np.ndarray:
        size = self.image_shape[0] if self.image_shape[0] == self.image_shape[1] else None
        return np.stack([image_files.decode_image(self._paths[i], size) for i in np.asarray(idx)])

    def _tensors(self):
        if self._label_tensor is None:
            import tensorflow as tf

            with tf.device("/cpu:0"):
                self._label_tensor = tf.constant(self._labels)
        return None, self._label_tensor

    def _batch_images(self, idx):
        import tensorflow as tf

        images = tf.numpy_function(self._decode, [idx], tf.uint8, stateful=False)
        images.set_shape((None, *self.image_shape))
        return images
