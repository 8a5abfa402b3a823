"""Sample images for the analyses, preprocessed exactly as the training pipeline feeds them."""

from __future__ import annotations

import numpy as np


def sample_images(dataset, count: int, batch_size: int = 64) -> np.ndarray:
    """The first ``count`` images of ``dataset`` (a ``zoo.data.ImageDataset``), normalised like
    evaluation batches (no augmentation), as a float32 (N, H, W, C) array."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"sample_images: invalid count={count!r}; allowed: an integer >= 1")
    out, have = [], 0
    for x, _ in dataset.pipeline(batch_size, training=False):
        out.append(np.asarray(x, dtype="float32"))
        have += len(out[-1])
        if have >= count:
            break
    return np.concatenate(out)[:count]


def load_sample(name: str, *, split: str, count: int, image_size: int, data_dir=None, seed: int = 0):
    """``count`` images spread over the classes of a dataset split (``zoo.data.load_dataset``)."""
    from zoo.data import Subset, load_dataset

    probe = load_dataset(name, split=split, data_dir=data_dir, subset=Subset(per_class=1, seed=seed),
                         image_size=image_size)
    per_class = max(1, -(-count // probe.num_classes))
    data = load_dataset(name, split=split, data_dir=data_dir, subset=Subset(per_class=per_class, seed=seed),
                        image_size=image_size)
    return sample_images(data, count), data
