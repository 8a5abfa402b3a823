"""Trained models you can take away: one ``.keras`` file with its preprocessing and class names.

A checkpoint is the trained network with the input scaling it was trained with as its first
layer (so it takes 0-255 RGB images, like every zoo model built with
``include_preprocessing=True``) and a ``zoo.json`` entry inside the same zip archive holding
the class names and where it came from. Keras ignores that entry; ``zoo.load_model`` loads
the model as usual and ``read_info`` returns the entry.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

INFO_ENTRY = "zoo.json"
# The zoo's data pipeline normalises with the ImageNet mean and std, torchvision's scaling.
TRAINING_PREPROCESSING = "torch"


def save_checkpoint(model, path: str | Path, *, class_names: Sequence[str], info: Mapping[str, Any] | None = None,
                    preprocessing: str | None = TRAINING_PREPROCESSING) -> Path:
    """Write ``model`` (with ``preprocessing`` in front unless None) and its info, atomically."""
    from zoo.weights.preprocessing import add_preprocessing

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"invalid checkpoint path {str(path)!r}; allowed: a file name ending in .keras")
    if len(class_names) != model.output_shape[-1]:
        raise ValueError(f"{len(class_names)} class names for a model with {model.output_shape[-1]} outputs")
    inside = input_scaling(model)
    if preprocessing and inside is None:
        model, inside = add_preprocessing(model, preprocessing), preprocessing
    record = {"class_names": list(class_names), "preprocessing": inside,
              "input_shape": list(model.input_shape[1:]), **dict(info or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(INFO_ENTRY, json.dumps(record, indent=2, default=str))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def input_scaling(model) -> str | None:
    """The preprocessing mode of the model's first real layer (looking into a nested backbone,
    as a fine-tuned model has one), or None when its input is not scaled inside."""
    import keras

    from zoo.weights.preprocessing import mode_of

    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            return input_scaling(layer)
        return mode_of(layer)
    return None


def read_info(path: str | Path) -> dict[str, Any]:
    """The checkpoint's ``zoo.json`` (class names, preprocessing, provenance); {} for other ``.keras`` files."""
    try:
        with zipfile.ZipFile(path) as archive:
            if INFO_ENTRY not in archive.namelist():
                return {}
            return json.loads(archive.read(INFO_ENTRY))
    except zipfile.BadZipFile:
        raise ValueError(f"{str(path)!r} is not a valid .keras file (a zip archive written by model.save)") from None
