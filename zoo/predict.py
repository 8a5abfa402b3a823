"""Labels for images from a trained model: a zoo checkpoint, any ``.keras`` file, or a registered
name with its ImageNet weights. Images are read as the data loader reads them (any common
format, RGB, resized to the model's input side); every model here takes 0-255 RGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Predictor:
    model: object
    class_names: list[str]
    side: int
    outputs_probabilities: bool


def load_predictor(target: str) -> Predictor:
    """``target``: a ``.keras`` path (a zoo checkpoint carries its class names and preprocessing)
    or a registered name, built with ``weights="imagenet"`` and its preprocessing."""
    import zoo
    from zoo.checkpoint import input_scaling, read_info
    from zoo.training import outputs_probabilities

    path = Path(target)
    if target.endswith(".keras") or path.exists():
        model = zoo.load_model(path, compile=False)
        info = read_info(path)
        names = info.get("class_names")
        if not info.get("preprocessing") and input_scaling(model) is None:
            raise ValueError(f"{target!r} has no input preprocessing layer, so it does not take 0-255 RGB images; "
                             "save it with zoo.checkpoint.save_checkpoint (zoo bench does) or build it with "
                             "include_preprocessing=True")
    else:
        from zoo.weights import imagenet_classes

        model = zoo.build(target, weights="imagenet", include_preprocessing=True)
        names = imagenet_classes()
    units = model.output_shape[-1]
    if not names or len(names) != units:
        names = imagenet_classes_if(units) or [f"class_{i}" for i in range(units)]
    side = model.input_shape[1] if model.input_shape[-1] == 3 else model.input_shape[2]
    if side is None:
        raise ValueError(f"{target!r} has no fixed input size; build it with input_shape=(H, W, 3)")
    return Predictor(model, list(names), int(side), outputs_probabilities(model))


def imagenet_classes_if(units: int) -> list[str] | None:
    if units != 1000:
        return None
    from zoo.weights import imagenet_classes

    return imagenet_classes()


def image_paths(items: Sequence[str]) -> list[Path]:
    """Files as given, and every image file under each folder (sorted); missing ones raise."""
    from zoo.data.folder import is_image_file

    out = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p.name))
            if not found:
                raise ValueError(f"folder {item!r} holds no image files")
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"no such image or folder: {item!r}")
    return out


def predict(predictor: Predictor, paths: Sequence[Path], top: int = 5, batch_size: int = 32) -> list[dict]:
    """One record per image: ``{"image", "predictions": [{"label", "probability"}, ...]}``, best first."""
    import keras

    from zoo.data.folder import decode_image

    if top < 1:
        raise ValueError(f"invalid top={top}; allowed: an integer >= 1")
    top = min(top, len(predictor.class_names))
    images = []
    for path in paths:
        try:
            images.append(decode_image(path, predictor.side))
        except Exception as err:  # noqa: BLE001 - any decoder failure names the file
            raise ValueError(f"cannot read image {str(path)!r}: {type(err).__name__}: {err}") from None
    x = np.stack(images).astype("float32")
    if keras.config.image_data_format() == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    out = np.asarray(predictor.model.predict(x, batch_size=batch_size, verbose=0))
    probs = out if predictor.outputs_probabilities else np.asarray(keras.ops.softmax(out, axis=-1))
    records = []
    for path, p in zip(paths, probs):
        best = np.argsort(-p)[:top]
        records.append({"image": str(path), "predictions": [
            {"label": predictor.class_names[i], "probability": float(p[i])} for i in best]})
    return records
