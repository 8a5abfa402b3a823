"""ChannelShuffle: the ShuffleNet channel permutation (reshape -> transpose -> reshape)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class ChannelShuffle(keras.layers.Layer):
    """Interleave channels across ``groups`` so stacked grouped convs exchange information.

    Channels ``[a0 a1 | b0 b1 | c0 c1]`` with ``groups=3`` become ``[a0 b0 c0 a1 b1 c1]``.
    Shape is unchanged; the channel count must be divisible by ``groups``.
    """

    def __init__(self, groups, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"ChannelShuffle: `groups` must be a positive integer, got {groups!r}")
        self.groups = int(groups)
        self.data_format = data_format or keras.config.image_data_format()
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"ChannelShuffle: data_format={data_format!r}; allowed: channels_last, channels_first")

    def build(self, input_shape):
        channels = input_shape[-1 if self.data_format == "channels_last" else 1]
        if channels is not None and channels % self.groups:
            raise ValueError(f"ChannelShuffle {self.name!r}: channels ({channels}) must be divisible "
                             f"by groups ({self.groups})")

    def call(self, x):
        if self.groups == 1:
            return x
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 2, 3, 1))
        shape = ops.shape(x)
        c = x.shape[-1]
        x = ops.reshape(x, (-1, shape[1], shape[2], self.groups, c // self.groups))
        x = ops.swapaxes(x, 3, 4)
        x = ops.reshape(x, (-1, shape[1], shape[2], c))
        return ops.transpose(x, (0, 3, 1, 2)) if self.data_format == "channels_first" else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "data_format": self.data_format}
