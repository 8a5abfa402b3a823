"""Yu & Koltun's context module: stacked 3x3 convolutions with exponentially growing dilation.

Each 3x3 layer with dilation d widens the receptive field by 2d at the same parameters,
so the paper's rates (1, 1, 2, 4, 8, 16, 1) reach 67x67 with seven layers (Table 1),
where undilated layers would reach 15x15.
"""

from __future__ import annotations

from zoo.blocks.conv_bn_act import conv_bn_act

BASIC_DILATIONS = (1, 1, 2, 4, 8, 16, 1)  # layers 1-7 of the basic context module (Table 1)
PAPER_RECEPTIVE_FIELDS = (3, 5, 9, 17, 33, 65, 67)  # after layers 1-7 (Table 1)


def context_receptive_fields(dilations, kernel_size=3):
    """Receptive field (in module-input pixels) after each layer: r_i = r_{i-1} + (k - 1) * d_i."""
    fields, field = [], 1
    for d in dilations:
        field += (kernel_size - 1) * d
        fields.append(field)
    return tuple(fields)


def context_module(x, channels, dilations=BASIC_DILATIONS, *, bn=True, name):
    """The basic context module: a C-channel 3x3 conv -> ReLU per dilation, then a 1x1 C conv.

    Layers ``{name}_layer{i}`` (i from 1, as in the paper's Table 1), the 1x1 last.
    """
    for i, d in enumerate(dilations, start=1):
        x = conv_bn_act(x, channels, 3, dilation=d, bn=bn, use_bias=not bn, name=f"{name}_layer{i}")
    return conv_bn_act(x, channels, 1, bn=bn, use_bias=not bn, name=f"{name}_layer{len(dilations) + 1}")
