"""Shared arithmetic and knob predicates: the only place for rules every family uses.

Width rule (one for the whole zoo): a width multiplier ``width`` scales a channel
count ``c`` to ``round_channels(c, width, divisor)``, i.e. ``c * width`` rounded half
up to a multiple of ``divisor`` (8 unless a family needs another multiple, such as
ShuffleNet's ``4 * groups``), never below ``divisor`` and never more than 10% below
``c * width``. This is the ``make_divisible`` rule of the MobileNet reference code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
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


# --- knob predicates and checks ------------------------------------------------------------


def is_int(value: Any) -> bool:
    """An ``int`` that is not a ``bool`` (``True`` is not a group count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float, not a ``bool``: ``inf`` and ``nan`` are no width or rate."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and (isinstance(value, int) or math.isfinite(value)))


def is_positive(value: Any) -> bool:
    """A finite number > 0 (widths, ratios)."""
    return is_number(value) and value > 0


def is_positive_int(value: Any) -> bool:
    """An integer > 0 (counts, sizes)."""
    return is_int(value) and value > 0


def invalid(owner: str, knob: str, value: Any, allowed: str) -> ValueError:
    """The one error format for a bad knob: who, which knob, what was given, what is allowed."""
    return ValueError(f"{owner}: invalid {knob}={value!r}; allowed: {allowed}")


def check_positive(owner: str, knob: str, value: Any, *, integer: bool = False) -> Any:
    if not (is_positive_int(value) if integer else is_positive(value)):
        kind = "an integer" if integer else "a number"
        raise invalid(owner, knob, value, f"{kind} > 0")
    return value


# --- architecture arithmetic shared by the families -------------------------------------------


def small_input_strides(strides: Sequence[int], small_input: bool, count: int = 2) -> list[int]:
    """The zoo's one small-input stride plan: the first ``count`` downsampling layers keep stride 1.

    ``strides`` lists the network's strided layers in order (stem conv, stem pool, first
    units, ...). For small inputs (CIFAR's 32x32) the first ``count`` strides above 1 become
    1, so the total stride drops by 4x (two stride-2 layers) and the last maps stay > 1 pixel.
    """
    out = list(strides)
    if small_input:
        for i in [i for i, s in enumerate(out) if s > 1][:count]:
            out[i] = 1
    return out


def smallest_side(final_side: Callable[[int], int], limit: int = 4096) -> int:
    """The smallest input side whose last feature map, ``final_side(side)``, is at least 1x1."""
    return next((s for s in range(1, limit) if final_side(s) >= 1), limit)


def conv_params(in_channels: int, filters: int, kernel_size: int = 1, *, groups: int = 1,
                bias: bool = False, bn: bool = True) -> int:
    """Parameters of a conv [-> BN] layer (BN counts 4 per channel, as ``count_params`` does).

    The arithmetic of the families' ``estimate_params``, which the registry's size cap uses
    before any layer exists. A depthwise conv is ``conv_params(1, channels * multiplier, k)``,
    a Dense layer ``conv_params(features, units, bias=True, bn=False)``.
    """
    weights = kernel_size * kernel_size * (in_channels // groups) * filters
    return weights + (filters if bias else 0) + (4 * filters if bn else 0)


def input_channels(input_shape: Sequence[int]) -> int:
    """Channels of an (H, W, C) or (C, H, W) input shape under the current data format."""
    return input_shape[-1] if keras.config.image_data_format() == "channels_last" else input_shape[0]


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
