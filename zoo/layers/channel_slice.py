"""ChannelSlice: a contiguous range of channels, as a registered weightless layer.

ShuffleNet v2 splits channels in two; a registered layer rather than ``layers.Lambda``
keeps models saving and loading without unsafe deserialisation.
"""

from __future__ import annotations

import keras

from zoo.layers.formats import channel_axis_of, resolve_data_format

@keras.saving.register_keras_serializable(package="zoo")
class ChannelSlice(keras.layers.Layer):
    """Channels ``[start, stop)`` of the input (no weights, no arithmetic: costs 0 MACs)."""

    def __init__(self, start, stop, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if (isinstance(start, bool) or isinstance(stop, bool) or not isinstance(start, int)
                or not isinstance(stop, int) or not 0 <= start < stop):
            raise ValueError(f"ChannelSlice: need integers 0 <= start < stop, got start={start!r}, stop={stop!r}")
        self.start, self.stop = start, stop
        self.data_format = resolve_data_format("ChannelSlice", data_format)

    def _axis(self):
        return channel_axis_of(self.data_format)

    def build(self, input_shape):
        channels = input_shape[self._axis()]
        if channels is not None and self.stop > channels:
            raise ValueError(f"ChannelSlice {self.name!r}: stop={self.stop} exceeds the {channels} input channels")

    def call(self, x):
        if self.data_format == "channels_last":
            return x[..., self.start:self.stop]
        return x[:, self.start:self.stop]

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self._axis()] = self.stop - self.start
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop, "data_format": self.data_format}
