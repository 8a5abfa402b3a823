"""Per-layer cost rules: multiply-accumulates and receptive-field arithmetic, keyed by class.

A rule is found by walking the layer's MRO, so subclasses inherit their parent's rule
(``zoo.layers.GroupedConv2D`` is a ``keras.layers.Conv2D`` and reads ``layer.groups``
through the kernel shape). Conventions, the same as the papers' "mult-adds":

* One MAC is one multiply followed by one add of a linear layer (conv, dense). Bias adds,
  activations, residual adds, concatenations and pooling count 0 -- the papers leave
  them out, and they are a small, memory-bound fraction of the work.
* BatchNormalization counts 0 MACs: at inference it is folded into the preceding
  convolution's weights and bias. Its 4·C weights still count as parameters (2·C
  trainable, 2·C non-trainable), exactly as ``model.count_params()`` does.
* Receptive field per spatial axis: a kernel K with dilation d acts as
  ``K_eff = K + (K-1)(d-1)``; ``rf_out = rf_in + (K_eff - 1)·jump_in``;
  ``jump_out = jump_in · stride``. Padding does not change either.
  Global pooling, and a Dense layer on a flattened map, see the whole input:
  their receptive field is ``max(rf_in, input size)``.
* A layer with weights and no rule raises (never a silent 0); so does a weightless
  layer that is not known to be free (a ``Lambda`` may hide a matmul). Add a rule with
  :func:`register_rule`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import keras
from keras import layers

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Field:
    """Receptive field and jump (cumulative stride) per spatial axis, in input pixels."""

    size: tuple[Fraction, ...]
    jump: tuple[Fraction, ...]

    @staticmethod
    def unit(ndim: int) -> "Field":
        return Field((Fraction(1),) * ndim, (Fraction(1),) * ndim)


@dataclass(frozen=True)
class Rule:
    """How one layer type costs: ``macs(layer, in_shapes, out_shapes)`` and its field map."""

    macs: Callable[[keras.layers.Layer, list[Shape], list[Shape]], int]
    field: Callable[[keras.layers.Layer, list[Field], list[Shape], tuple[int, ...]], Field]


_RULES: dict[type, Rule] = {}


def register_rule(*layer_types: type, macs=None, field=None) -> None:
    """Register the cost rule of ``layer_types`` (and their subclasses).

    ``macs(layer, in_shapes, out_shapes) -> int`` gets shapes without the batch axis;
    ``field(layer, in_fields, in_shapes, input_size) -> Field`` defaults to "unchanged" (the max
    over merged inputs).
    """
    rule = Rule(macs or zero_macs, field or merged_field)
    for t in layer_types:
        _RULES[t] = rule


def find_rule(layer) -> Rule | None:
    for cls in type(layer).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    return None


# --- MAC formulas (shapes exclude the batch axis) -----------------------------------------


def zero_macs(layer, in_shapes, out_shapes) -> int:
    return 0


def _elements(shape: Shape) -> int:
    return math.prod(shape)


def conv_macs(layer, in_shapes, out_shapes) -> int:
    """Each output element: one dot product over (K..., C_in / groups) -> M·X·Y·K²·N / g."""
    # kernel is (*kernel_size, C_in / groups, filters)
    return _elements(out_shapes[0]) * math.prod(layer.kernel.shape[:-1])


def depthwise_macs(layer, in_shapes, out_shapes) -> int:
    """Each output element (C_in · depth_multiplier of them per position) sees K² inputs."""
    return _elements(out_shapes[0]) * math.prod(layer.kernel_size)


def separable_macs(layer, in_shapes, out_shapes) -> int:
    """Depthwise K² per intermediate element, then a 1×1 conv: positions·C·m·(K² + N)."""
    positions = _elements(out_shapes[0]) // layer.filters
    intermediate = positions * layer.depthwise_kernel.shape[-2] * layer.depth_multiplier
    return intermediate * (math.prod(layer.kernel_size) + layer.filters)


def dense_macs(layer, in_shapes, out_shapes) -> int:
    """A matmul on the last axis, applied at every other position (so also on rank-4 maps)."""
    return _elements(out_shapes[0]) * layer.kernel.shape[0]


# --- receptive-field maps --------------------------------------------------------------------


def merged_field(layer, in_fields: Sequence[Field], in_shapes, input_size) -> Field:
    """Pointwise / merging ops: the widest of the inputs' fields (branches merge here)."""
    if len(in_fields) == 1:
        return in_fields[0]
    ndim = max(len(f.size) for f in in_fields)  # a broadcast vector (no spatial axes) adds nothing
    in_fields = [f for f in in_fields if len(f.size) == ndim]
    return Field(tuple(max(f.size[i] for f in in_fields) for i in range(ndim)),
                 tuple(max(f.jump[i] for f in in_fields) for i in range(ndim)))


def _window_field(field: Field, kernel: Sequence[int], strides: Sequence[int],
                  dilation: Sequence[int]) -> Field:
    size, jump = list(field.size), list(field.jump)
    for i, (k, s, d) in enumerate(zip(kernel, strides, dilation)):
        if i >= len(size):
            break
        k_eff = k + (k - 1) * (d - 1)
        size[i] = size[i] + (k_eff - 1) * jump[i]
        jump[i] = jump[i] * s
    return Field(tuple(size), tuple(jump))


def conv_field(layer, in_fields, in_shapes, input_size) -> Field:
    return _window_field(merged_field(layer, in_fields, in_shapes, input_size), layer.kernel_size,
                         layer.strides, layer.dilation_rate)


def pool_field(layer, in_fields, in_shapes, input_size) -> Field:
    return _window_field(merged_field(layer, in_fields, in_shapes, input_size), layer.pool_size,
                         layer.strides, (1,) * len(layer.pool_size))


def global_field(layer, in_fields, in_shapes, input_size) -> Field:
    """Every output sees the whole input: at least the input size on each axis."""
    field = merged_field(layer, in_fields, in_shapes, input_size)
    size = tuple(max(s, Fraction(n)) for s, n in zip(field.size, input_size))
    return Field(size + field.size[len(size):], field.jump)


def dense_field(layer, in_fields, in_shapes, input_size) -> Field:
    """Dense on a feature map acts per position (unchanged); on a flat vector it mixes all."""
    if len(in_shapes[0]) == 1:
        return global_field(layer, in_fields, in_shapes, input_size)
    return merged_field(layer, in_fields, in_shapes, input_size)


def upsample_field(layer, in_fields, in_shapes, input_size) -> Field:
    field = merged_field(layer, in_fields, in_shapes, input_size)
    factors = layer.size if isinstance(layer.size, (tuple, list)) else (layer.size,)
    jump = tuple(j / f for j, f in zip(field.jump, factors)) + field.jump[len(factors):]
    return Field(field.size, jump)


# --- the table ------------------------------------------------------------------------------

register_rule(layers.Conv1D, layers.Conv2D, layers.Conv3D, macs=conv_macs, field=conv_field)
register_rule(layers.DepthwiseConv1D, layers.DepthwiseConv2D, macs=depthwise_macs, field=conv_field)
register_rule(layers.SeparableConv1D, layers.SeparableConv2D, macs=separable_macs, field=conv_field)
register_rule(layers.Dense, macs=dense_macs, field=dense_field)

# Folded into the preceding conv at inference (see the module docstring); elementwise otherwise.
register_rule(layers.BatchNormalization, layers.LayerNormalization, layers.GroupNormalization,
              layers.Normalization)

# Pooling: comparisons / additions only, 0 MACs by the papers' convention.
register_rule(layers.MaxPooling1D, layers.MaxPooling2D, layers.MaxPooling3D,
              layers.AveragePooling1D, layers.AveragePooling2D, layers.AveragePooling3D,
              field=pool_field)
register_rule(layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D, layers.GlobalAveragePooling3D,
              layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D, layers.GlobalMaxPooling3D,
              field=global_field)
register_rule(layers.UpSampling1D, layers.UpSampling2D, layers.UpSampling3D, field=upsample_field)

# Weightless, free by convention: elementwise, merging, shape-only, identity at inference.
register_rule(
    layers.InputLayer, layers.Activation, layers.ReLU, layers.Softmax, layers.LeakyReLU, layers.ELU,
    layers.PReLU,
    layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum, layers.Minimum,
    layers.Concatenate,
    layers.Dropout, layers.SpatialDropout1D, layers.SpatialDropout2D, layers.SpatialDropout3D,
    layers.GaussianDropout, layers.GaussianNoise, layers.AlphaDropout, layers.ActivityRegularization,
    layers.Reshape, layers.Flatten, layers.Permute, layers.Identity,
    layers.ZeroPadding1D, layers.ZeroPadding2D, layers.ZeroPadding3D,
    layers.Cropping1D, layers.Cropping2D, layers.Cropping3D,
    layers.Rescaling, layers.RandomFlip, layers.RandomCrop, layers.RandomTranslation, layers.RandomRotation,
    layers.RandomZoom, layers.RandomContrast,
)


def subsample_field(layer, in_fields, in_shapes, input_size) -> Field:
    """Strided subsampling (a 1×1 window with stride s): same field, jump × s."""
    field = merged_field(layer, in_fields, in_shapes, input_size)
    return _window_field(field, (1,) * len(field.size), (layer.strides,) * len(field.size),
                         (1,) * len(field.size))


def _register_zoo_layers() -> None:
    # The zoo's own weightless layers: a channel permutation and a channel slice keep the
    # receptive field; the ResNet option-A shortcut subsamples (no weights, no MACs).
    from zoo.layers import ChannelShuffle, ChannelSlice, ShortcutA

    register_rule(ChannelShuffle, ChannelSlice)
    register_rule(ShortcutA, field=subsample_field)


_register_zoo_layers()

# keras.ops called on symbolic tensors inside a functional model (``x + y``, ``ops.concatenate``)
# appear as Operations; these are free and keep the field (max over inputs). Slicing (GetItem)
# is left out on purpose: a strided slice changes the jump, so it needs a rule of its own.
FREE_OPS = frozenset({
    "Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Negative", "Maximum", "Minimum",
    "Concatenate", "Reshape", "Transpose", "Swapaxes", "Split", "ExpandDims", "Squeeze",
    "Relu", "Relu6", "Sigmoid", "HardSigmoid", "HardSwish", "Silu", "Swish", "Gelu", "Softmax",
    "Tanh", "Cast", "Clip", "Identity", "Abs", "Square", "Sqrt", "Exp",
})
