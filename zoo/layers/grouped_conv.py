"""GroupedConv2D: exactly ``keras.layers.Conv2D(groups=g)``, with a choice of implementation.

Same kernel layout as ``Conv2D(groups=g)`` -- (kh, kw, in/g, filters), output channel
``o`` belongs to group ``o // (filters / g)`` -- so weights are interchangeable.
"""

from __future__ import annotations

import keras
from keras import ops

IMPLEMENTATIONS = ("auto", "native", "split")


@keras.saving.register_keras_serializable(package="zoo")
class GroupedConv2D(keras.layers.Conv2D):
    """A grouped 2D convolution; ``implementation`` picks how it is computed, never what."""

    def __init__(self, filters, kernel_size, *, groups=1, implementation="auto", **kwargs):
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"GroupedConv2D: implementation={implementation!r}; allowed: {list(IMPLEMENTATIONS)}")
        super().__init__(filters, kernel_size, groups=groups, **kwargs)
        self.implementation = implementation

    def convolution_op(self, inputs, kernel):
        if self.implementation == "native" or self.groups == 1:
            return super().convolution_op(inputs, kernel)
        axis = -1 if self.data_format == "channels_last" else 1
        xs = ops.split(inputs, self.groups, axis=axis)
        ks = ops.split(kernel, self.groups, axis=-1)
        ys = [ops.conv(x, k, strides=list(self.strides), padding=self.padding,
                       dilation_rate=self.dilation_rate, data_format=self.data_format)
              for x, k in zip(xs, ks)]
        return ops.concatenate(ys, axis=axis)

    def get_config(self):
        return {**super().get_config(), "implementation": self.implementation}
