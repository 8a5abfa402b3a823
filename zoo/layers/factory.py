"""One switch for the convolution type, so models and experiments swap it without code changes.

``make_conv(kind, filters, kernel_size, ...)`` returns a ``callable(tensor) -> tensor``.
Every kind takes the same arguments; a kind uses the ones that mean something to it:

- ``standard``: Conv2D (``name``); honours ``dilation``.
- ``dilated``: Conv2D (``name``); ``dilation=1`` means ``DEFAULT_DILATION`` (2).
- ``pointwise``: 1x1 Conv2D (``name``); ``kernel_size`` and ``dilation`` are ignored.
- ``grouped``: GroupedConv2D (``name``); needs ``groups >= 2`` dividing in and out channels.
- ``depthwise``: DepthwiseConv2D (``name``); ``filters`` must be a multiple of the input
  channels (``depth_multiplier = filters // in``).
- ``separable``: DepthwiseConv2D (``{name}_dw``, carries the stride) then 1x1 Conv2D
  (``{name}_pw``): two layers, so a caller building its own block can put BN/activation between.
- ``separable_fused``: keras SeparableConv2D (``name``): one layer, one (pointwise) bias.

``groups`` is used by ``grouped`` only and ignored elsewhere, so a sweep over ``CONV_TYPES``
can pass one set of arguments. Cost (survey formulas, M inputs, N outputs, K kernel, bias on):
standard N(M·K²+1) params; pointwise N(M+1); separable M·K²+M + N·M+N.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from zoo.common import check_positive, invalid
from zoo.layers.grouped_conv import GroupedConv2D

CONV_TYPES = ("standard", "dilated", "pointwise", "grouped", "depthwise", "separable")
"""The kinds ``make_conv`` builds; ``"separable_fused"`` (keras SeparableConv2D) is accepted too."""

EXTRA_CONV_TYPES = ("separable_fused",)
DEFAULT_DILATION = 2  # "dilated" with no rate given: the smallest that dilates (Yu & Koltun: 2, 4, 8, ...)
PADDINGS = ("same", "valid")


def _channels(x) -> int:
    axis = -1 if keras.config.image_data_format() == "channels_last" else 1
    channels = x.shape[axis]
    if channels is None:
        raise ValueError(f"make_conv: the input's channel dimension must be known, got shape {x.shape}")
    return int(channels)


def make_conv(kind: str, filters: int, kernel_size: int = 3, *, strides: int = 1, dilation: int = 1,
              groups: int = 1, use_bias: bool = False, padding: str = "same",
              name: str) -> Callable:
    """Build a convolution of type ``kind`` (one of ``CONV_TYPES``); returns ``f(x) -> y``.

    Args:
        kind: one of ``CONV_TYPES`` or ``"separable_fused"``.
        filters: output channels (for ``depthwise``: a multiple of the input channels).
        kernel_size: square kernel side (ignored by ``pointwise``).
        strides: square stride; cannot be combined with a dilation > 1 (Keras forbids it).
        dilation: dilation rate; for ``dilated``, 1 means ``DEFAULT_DILATION``.
        groups: group count for ``grouped`` (>= 2); ignored by the other kinds.
        use_bias: add a bias to every layer made (both layers of ``separable``).
        padding: ``"same"`` (default) or ``"valid"``.
        name: layer name (``separable`` makes ``{name}_dw`` and ``{name}_pw``).

    All arguments are checked here, before any layer exists; the input-dependent ones
    (channel divisibility) when the callable is applied.
    """
    owner = f"make_conv({name!r})"
    allowed = CONV_TYPES + EXTRA_CONV_TYPES
    if kind not in allowed:
        raise invalid("make_conv", "kind", kind, f"one of {list(allowed)}")
    if not isinstance(name, str) or not name:
        raise invalid("make_conv", "name", name, "a non-empty string")
    for knob, value in (("filters", filters), ("kernel_size", kernel_size), ("strides", strides),
                        ("dilation", dilation), ("groups", groups)):
        check_positive(owner, knob, value, integer=True)
    if padding not in PADDINGS:
        raise invalid(owner, "padding", padding, f"one of {list(PADDINGS)}")
    if kind == "dilated" and dilation == 1:
        dilation = DEFAULT_DILATION
    if kind == "pointwise":
        kernel_size, dilation = 1, 1
    if strides > 1 and dilation > 1:
        raise invalid(owner, "strides", strides, f"1 when dilation > 1 (got dilation={dilation}); "
                      "Keras convolutions cannot stride and dilate at once")
    if kind == "grouped":
        if groups < 2:
            raise invalid(owner, "groups", groups, "an integer >= 2 for kind='grouped' (use 'standard' for 1)")
        if filters % groups:
            raise invalid(owner, "groups", groups, f"a divisor of filters={filters}")

    common = dict(strides=strides, padding=padding, use_bias=use_bias)

    def apply(x):
        channels = _channels(x)
        if padding == "valid":
            reach = (kernel_size - 1) * dilation + 1
            spatial = x.shape[1:3] if keras.config.image_data_format() == "channels_last" else x.shape[2:4]
            if any(size is not None and size < reach for size in spatial):
                raise ValueError(f"{owner}: kernel {kernel_size} with dilation {dilation} spans {reach} "
                                 f"pixels, more than the input's {tuple(spatial)} with padding='valid'")
        if kind in ("standard", "dilated", "pointwise"):
            return layers.Conv2D(filters, kernel_size, dilation_rate=dilation, name=name, **common)(x)
        if kind == "grouped":
            if channels % groups:
                raise invalid(owner, "groups", groups, f"a divisor of the input channels ({channels})")
            return GroupedConv2D(filters, kernel_size, groups=groups, dilation_rate=dilation,
                                 name=name, **common)(x)
        if kind == "separable_fused":
            return layers.SeparableConv2D(filters, kernel_size, dilation_rate=dilation, name=name, **common)(x)
        if kind == "depthwise":
            if filters % channels:
                raise invalid(owner, "filters", filters,
                              f"a multiple of the input channels ({channels}) for kind='depthwise'")
            return layers.DepthwiseConv2D(kernel_size, depth_multiplier=filters // channels,
                                          dilation_rate=dilation, name=name, **common)(x)
        # separable: two layers, the depthwise one carries the stride
        x = layers.DepthwiseConv2D(kernel_size, dilation_rate=dilation, name=f"{name}_dw", **common)(x)
        return layers.Conv2D(filters, 1, use_bias=use_bias, name=f"{name}_pw")(x)

    return apply
