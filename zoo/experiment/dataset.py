"""The ``[dataset]`` section of a spec file, and the train/eval splits it names.

Suites and tuning jobs take the same section, checked and defaulted here once, and load
their splits through ``load_splits`` (``zoo.data.load_dataset`` underneath), so a tuned
configuration drops into a suite with the same data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.experiment.specfile import check_keys, positive_int

DATASET_KEYS = {
    "name": "a dataset name (e.g. 'cifar10') or a folder path relative to the spec file",
    "train_split": "split to train on (default 'train')",
    "eval_split": "split to evaluate on (default 'test')",
    "image_size": "side in pixels that images are resized to, and the models' input size",
    "subset": "table for zoo.data.Subset: classes, per_class, fraction, seed (training split)",
    "eval_subset": "table for zoo.data.Subset applied to the evaluation split (default: all of it)",
    "on_bad_image": "'error' (default) or 'skip'",
}
# Filled in when absent. They are part of every suite's fingerprint (and so of its run ids):
# a new [dataset] key must NOT be defaulted into this dict, or every published run id changes.
DATASET_DEFAULTS = {"train_split": "train", "eval_split": "test", "on_bad_image": "error"}

# Caveats a reader of a table must see (from the shared data's README).
DATASET_NOTES = {
    ("cifar10", "folder"): "CIFAR-10 (JPEG copy: close to, not identical with, the canonical release)",
    ("cifar10", "tfds"): "CIFAR-10 (TFDS)",
    ("tiny-imagenet-10", "folder"): "tiny-imagenet-10 (10 Tiny ImageNet classes)",
}


def parse_dataset(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The ``[dataset]`` section with its defaults filled in."""
    dataset = dict(table)
    check_keys(dataset, DATASET_KEYS, "[dataset]", path)
    for key in ("name", "image_size"):
        if key not in dataset:
            raise ValueError(f"{path}: [dataset] needs {key!r} ({DATASET_KEYS[key]})")
    if not isinstance(dataset["name"], str) or not dataset["name"]:
        raise ValueError(f"{path}: invalid [dataset] name={dataset['name']!r}; allowed: {DATASET_KEYS['name']}")
    positive_int(dataset["image_size"], "[dataset] image_size", path)
    for key, value in DATASET_DEFAULTS.items():
        dataset.setdefault(key, value)
    if dataset["on_bad_image"] not in ("error", "skip"):
        raise ValueError(f"{path}: invalid [dataset] on_bad_image={dataset['on_bad_image']!r}; "
                         f"allowed: one of ['error', 'skip']")
    for key in ("subset", "eval_subset"):
        if key in dataset and not isinstance(dataset[key], dict):
            raise ValueError(f"{path}: invalid [dataset] {key}={dataset[key]!r}; allowed: {DATASET_KEYS[key]}")
    return dataset


def names_folder(dataset: Mapping[str, Any]) -> bool:
    """True when ``name`` is a folder path rather than a dataset name."""
    name = dataset["name"]
    return "/" in name or name.startswith(".")


def resolve_name(dataset: Mapping[str, Any], spec_path: Path) -> str:
    """A name with a path separator is a folder relative to the spec file."""
    name = dataset["name"]
    if names_folder(dataset):
        folder = (Path(spec_path).parent / name).resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"{spec_path}: [dataset] name={name!r} is not a folder ({folder})")
        return str(folder)
    return name


def data_dir(explicit: str | None = None) -> str | None:
    """The folder of image-folder datasets: ``explicit``, else ``$ZOO_DATA_DIR``, else None."""
    from zoo.data import default_data_dir

    return default_data_dir(explicit)


@dataclass(frozen=True)
class Splits:
    """The training and evaluation splits of a ``[dataset]`` section, loaded."""

    train: Any
    val: Any

    @property
    def num_classes(self) -> int:
        return int(self.train.num_classes)


def load_splits(dataset: Mapping[str, Any], spec_path: Path, data_dir: str | None = None,
                image_size: int | None = None, download: bool = True) -> Splits:
    """Both splits, decoded; raises on missing data, bad subsets or splits whose classes differ.

    ``image_size`` overrides the section's (a tuning job searching the resolution);
    ``download=False`` (a dry run) never fetches a TFDS dataset that is not prepared yet.
    """
    from zoo.data import Subset, load_dataset

    name = resolve_name(dataset, spec_path)
    size = int(image_size or dataset["image_size"])
    train_subset = dict(dataset.get("subset", {}))
    eval_subset = dict(dataset.get("eval_subset", {}))
    if "classes" in train_subset and "classes" not in eval_subset:
        eval_subset["classes"] = train_subset["classes"]  # evaluate on the classes trained on
    common = {"data_dir": data_dir, "image_size": size, "on_bad_image": dataset["on_bad_image"], "download": download}
    train = load_dataset(name, split=dataset["train_split"],
                         subset=Subset.from_dict(train_subset, f"{spec_path} [dataset] subset"), **common)
    val = load_dataset(name, split=dataset["eval_split"],
                       subset=Subset.from_dict(eval_subset, f"{spec_path} [dataset] eval_subset"), **common)
    if list(train.class_names) != list(val.class_names):
        raise ValueError(f"{spec_path}: splits {dataset['train_split']!r} and {dataset['eval_split']!r} "
                         f"have different classes: {list(train.class_names)} vs {list(val.class_names)}")
    return Splits(train, val)


def dataset_label(name: str, source: str) -> str:
    """What a table calls the data, with the caveats its reader must see."""
    kind = source.split(":", 1)[0] if ":" in source else "folder"
    return DATASET_NOTES.get((name, kind), f"{Path(name).name} ({kind})")


def relative(path: str | Path) -> str:
    """``path`` relative to the working directory: committed records carry no machine's paths."""
    try:
        return os.path.relpath(path) if os.path.isabs(path) else str(path)
    except ValueError:  # another drive on Windows
        return str(path)


def portable_source(source: str) -> str:
    """``folder:/abs/path`` -> ``folder:<path relative to the working directory>``."""
    kind, sep, location = source.partition(":")
    return f"{kind}:{relative(location)}" if sep and kind == "folder" else source


def subset_text(subset: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in subset.items()) if subset else "all"
