"""Pretrained ImageNet weights for zoo models, with the preprocessing and class names they come with.

    >>> model = zoo.build("mobilenet_v2", weights="imagenet", include_preprocessing=True)  # 0-255 RGB in
    >>> zoo.weights.imagenet_classes()[model.predict(images).argmax(-1)[0]]

keras.applications' files (MobileNet, MobileNetV2, Xception) download through Keras' own
cache; torchvision / timm checkpoints (SqueezeNet, ShuffleNetV2, MobileNetV2, MobileNet)
are converted once with ``zoo convert-weights`` (PyTorch for that step only) into the same
cache. ``CHECKPOINTS`` lists them all; ``pretrained_table()`` renders it for the README.
"""

from zoo.weights.catalog import CHECKPOINTS, PREPROCESSING, Checkpoint, pretrained_table  # noqa: F401
from zoo.weights.load import (  # noqa: F401
    MissingWeightsError,
    build_with_weights,
    cache_dir,
    converted_path,
)


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names in the order of every checkpoint's outputs (torchvision's names)."""
    from importlib.resources import files

    return files("zoo.weights").joinpath("imagenet_classes.txt").read_text(encoding="utf-8").splitlines()


def list_pretrained(name: str | None = None) -> list[str]:
    """Checkpoint ids (``config.tag``), all or those of ``name``'s family."""
    from zoo.weights.catalog import checkpoints_for

    return [c.id for c in checkpoints_for(name)]
