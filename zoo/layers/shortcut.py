"""ShortcutA: He et al.'s parameter-free "option A" residual shortcut, as a registered layer."""

from __future__ import annotations

import keras
from keras import ops
from zoo.layers.formats import channel_axis_of, resolve_data_format


@keras.saving.register_keras_serializable(package="zoo")
class ShortcutA(keras.layers.Layer):
    """He et al.'s option-A shortcut: subsample by ``strides``, zero-pad the channels to ``filters``.

    No weights and no multiply-adds: the CIFAR ResNets (Section 4.2) use it for every
    shortcut so that ResNet-20 stays at 0.27M parameters. The zero channels are split
    evenly before and after the input's, as in the common reference implementations.
    """

    def __init__(self, filters, strides=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        for knob, value in (("filters", filters), ("strides", strides)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ShortcutA: `{knob}` must be a positive integer, got {value!r}")
        self.filters = int(filters)
        self.strides = int(strides)
        self.data_format = resolve_data_format("ShortcutA", data_format)

    def _channel_axis(self):
        return channel_axis_of(self.data_format)

    def build(self, input_shape):
        channels = input_shape[self._channel_axis()]
        if channels is not None and channels > self.filters:
            raise ValueError(f"ShortcutA {self.name!r}: cannot pad {channels} channels down to "
                             f"filters={self.filters}; option A only widens")

    def call(self, x):
        s = self.strides
        if s > 1:
            x = x[:, ::s, ::s, :] if self.data_format == "channels_last" else x[:, :, ::s, ::s]
        pad = self.filters - x.shape[self._channel_axis()]
        if pad:
            before = pad // 2
            widths = [[0, 0], [0, 0], [0, 0], [0, 0]]
            widths[self._channel_axis()] = [before, pad - before]
            x = ops.pad(x, widths)
        return x

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for axis in spatial:
            if shape[axis] is not None:
                shape[axis] = -(-shape[axis] // self.strides)  # ceil, like x[::s]
        shape[self._channel_axis()] = self.filters
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "data_format": self.data_format}
