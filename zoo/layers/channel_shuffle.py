"""ChannelShuffle: the ShuffleNet channel permutation (reshape -> transpose -> reshape).

ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices,
https://arxiv.org/abs/1707.01083 (Section 3.1, Figure 1). Written with ``keras.ops`` only,
so it runs on every backend, with unknown batch and spatial sizes.
"""

from __future__ import annotations

import keras
from keras import ops
from zoo.layers.formats import divisible_channels, resolve_data_format



@keras.saving.register_keras_serializable(package="zoo")
class ChannelShuffle(keras.layers.Layer):
    """Interleave channels across ``groups`` so stacked grouped convs exchange information.

    Channels ``[a0 a1 | b0 b1 | c0 c1]`` with ``groups=3`` become ``[a0 b0 c0 a1 b1 c1]``.
    Input/output shape: (batch, H, W, C) or (batch, C, H, W) for ``channels_first``; the
    channel count must be known and divisible by ``groups``. Shuffling with ``groups=g`` then
    with ``groups=C/g`` restores the input.
    """

    def __init__(self, groups, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"ChannelShuffle {self.name!r}: invalid groups={groups!r}; "
                             "allowed: an integer > 0")
        self.groups = groups
        self.data_format = resolve_data_format(f"ChannelShuffle {self.name!r}", data_format)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"ChannelShuffle {self.name!r}: expects 4D input (batch, H, W, C) or "
                             f"(batch, C, H, W), got shape {tuple(input_shape)}")
        divisible_channels(f"ChannelShuffle {self.name!r}", input_shape, self.data_format, self.groups)

    def call(self, x):
        if self.groups == 1:
            return x
        shape = ops.shape(x)  # dynamic where unknown (batch, H, W)
        if self.data_format == "channels_last":
            c = x.shape[-1]
            x = ops.reshape(x, (shape[0], shape[1], shape[2], self.groups, c // self.groups))
            x = ops.swapaxes(x, 3, 4)  # (..., C/g, g): the interleave
            return ops.reshape(x, (shape[0], shape[1], shape[2], c))
        c = x.shape[1]
        x = ops.reshape(x, (shape[0], self.groups, c // self.groups, shape[2], shape[3]))
        x = ops.swapaxes(x, 1, 2)
        return ops.reshape(x, (shape[0], c, shape[2], shape[3]))

    def compute_output_shape(self, input_shape):
        return input_shape  # a permutation never changes the shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "data_format": self.data_format}
