"""Data-format and channel checks every custom layer makes, stated once."""

from __future__ import annotations

import keras

DATA_FORMATS = ("channels_last", "channels_first")


def resolve_data_format(owner: str, data_format: str | None) -> str:
    """``data_format`` or Keras' image data format; anything else raises naming the layer."""
    resolved = data_format or keras.config.image_data_format()
    if resolved not in DATA_FORMATS:
        raise ValueError(f"{owner}: invalid data_format={data_format!r}; allowed: one of {list(DATA_FORMATS)}")
    return resolved


def channel_axis_of(data_format: str) -> int:
    return -1 if data_format == "channels_last" else 1


def divisible_channels(owner: str, input_shape, data_format: str, groups: int, what: str = "channels") -> int:
    """The known channel count of ``input_shape``, checked to split into ``groups`` equal parts."""
    channels = input_shape[channel_axis_of(data_format)]
    if channels is None:
        raise ValueError(f"{owner}: the {what} dimension must be known, got input shape {tuple(input_shape)}")
    if channels % groups:
        raise ValueError(f"{owner}: {what} ({channels}) must be divisible by groups ({groups})")
    return channels
