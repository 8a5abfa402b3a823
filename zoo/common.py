"""Shared arithmetic and argument checks: the only place for rules every family uses.

Width rule (one for the whole zoo): a width multiplier ``width`` scales a channel
count ``c`` to ``round_channels(c, width, divisor)``, i.e. ``c * width`` rounded half
up to a multiple of ``divisor`` (8 unless a family needs another multiple, such as
ShuffleNet's ``4 * groups``), never below ``divisor`` and never more than 10% below
``c * width``. This is the ``make_divisible`` rule of the MobileNet reference code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import keras

SMALL_INPUT_SIZE = 128
"""Inputs whose shorter side is below this many pixels use each family's small-input stem."""


def round_channels(channels: float, multiplier: float = 1.0, divisor: int = 8,
                   min_channels: int | None = None) -> int:
    """Scale ``channels`` by ``multiplier`` and snap to a multiple of ``divisor`` (half up)."""
    target = channels * multiplier
    floor = divisor if min_channels is None else min_channels
    snapped = max(floor, int(math.floor(target / divisor + 0.5)) * divisor)
    if snapped < 0.9 * target:
        snapped += divisor
    return int(snapped)


def channel_axis() -> int:
    """Channel axis under the current Keras image data format."""
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def spatial_size(input_shape: Sequence[int | None]) -> tuple[int | None, int | None]:
    """(height, width) of an (H, W, C) or (C, H, W) input shape under the current data format."""
    if keras.config.image_data_format() == "channels_last":
        return input_shape[0], input_shape[1]
    return input_shape[1], input_shape[2]


def is_small_input(input_shape: Sequence[int | None]) -> bool:
    """True when the shorter known side is below ``SMALL_INPUT_SIZE`` (CIFAR, Tiny ImageNet)."""
    sides = [s for s in spatial_size(input_shape) if s is not None]
    return bool(sides) and min(sides) < SMALL_INPUT_SIZE


# --- argument checks: raise before any layer is built ----------------------------------


def invalid(owner: str, knob: str, value: Any, allowed: str) -> ValueError:
    """The one error format for a bad knob: who, which knob, what was given, what is allowed."""
    return ValueError(f"{owner}: invalid {knob}={value!r}; allowed: {allowed}")


def check_choice(owner: str, knob: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = list(choices)
    if value not in choices:
        raise invalid(owner, knob, value, f"one of {choices}")
    return value


def check_positive(owner: str, knob: str, value: Any, *, integer: bool = False) -> Any:
    ok_type = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type) or not value > 0:
        kind = "an integer" if integer else "a number"
        raise invalid(owner, knob, value, f"{kind} > 0")
    return value


def check_input_shape(owner: str, input_shape: Any, *, min_size: int = 1) -> tuple[int, int, int]:
    """Validate an image input shape; ``min_size`` is the smallest side the network can downsample."""
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in input_shape)):
        raise invalid(owner, "input_shape", input_shape, "three positive integers, e.g. (224, 224, 3)")
    h, w = spatial_size(input_shape)
    if min(h, w) < min_size:
        raise invalid(owner, "input_shape", tuple(input_shape),
                      f"height and width >= {min_size} (the network's downsampling needs it)")
    return tuple(int(s) for s in input_shape)


def resolve_small_input(owner: str, small_input: Any, input_shape: Any) -> bool:
    """The ``small_input`` knob: None means automatic (shorter side < ``SMALL_INPUT_SIZE``)."""
    check_choice(owner, "small_input", small_input, [None, True, False])
    if small_input is None:
        return is_small_input(check_input_shape(owner, input_shape))
    return small_input


def check_head(owner: str, *, num_classes: Any, include_top: Any, pooling: Any, dropout: Any) -> None:
    """Checks for the keras.applications-style head arguments every family takes."""
    if include_top:
        check_positive(owner, "num_classes", num_classes, integer=True)
    check_choice(owner, "pooling", pooling, [None, "avg", "max"])
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise invalid(owner, "dropout", dropout, "a number in [0, 1)")


def dataclass_from_table(cls, table: Any, source: str, what: str):
    """``cls(**table)`` for a spec-file table, with errors that name ``source`` and the key.

    Unknown keys get the closest allowed one as a hint; the dataclass' own checks
    (``__post_init__``) raise with ``source`` prefixed. Used for [recipe] and subset tables.
    """
    import difflib
    from dataclasses import fields

    if not isinstance(table, Mapping):
        raise TypeError(f"{source}: a {what} must be a table/dict, got {type(table).__name__}")
    allowed = [f.name for f in fields(cls)]
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{source}: unknown {what} key {key!r}{hint}; allowed: {allowed}")
    try:
        return cls(**table)
    except (ValueError, TypeError) as err:
        raise type(err)(f"{source}: {err}") from None
