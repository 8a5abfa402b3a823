"""GroupedConv2D: exactly ``keras.layers.Conv2D(groups=g)``, computed the fast way per backend.

Same kernel layout as ``Conv2D(groups=g)`` -- (kh, kw, in/g, filters), output channel ``o``
belongs to group ``o // (filters / g)`` -- so weights are interchangeable, and it *is* a
``Conv2D`` (cost model and models rely on ``isinstance`` and ``layer.groups``).

Why it exists: Keras 3.15's TensorFlow backend (``keras/src/backend/tensorflow/nn.py``,
``conv``) runs every convolution whose input depth differs from the kernel's -- i.e. every
grouped one -- inside a nested ``tf.function(jit_compile=True)``, on CPU and GPU alike,
because plain (Eigen) TF CPU kernels reject grouped kernels in the fused conv+bias forward
and the filter gradient. On a 2-core CPU, XLA's convolution is slower than oneDNN's and each
call pays an XLA cluster launch, so a 1x1 240->240 conv on a 32x28x28 batch gets *slower*
as ``groups`` grows (numbers below).

Implementations (``implementation=``; all compute the same function):

- ``native``: Keras' own ``ops.conv`` (XLA on TF; ``feature_group_count`` on JAX).
- ``tf_conv``: ``tf.nn.convolution`` called directly with the grouped kernel, no XLA. TF's
  oneDNN CPU kernels (default on x86 Linux) and cuDNN do grouped convolutions forward and
  backward; TF's plain Eigen CPU kernels fail in the filter gradient. TensorFlow backend only.
- ``split``: split channels into ``groups`` convolutions and concatenate (any backend).
- ``matmul``: one batched ``einsum`` over groups; 1x1 kernels with stride 1 only.

``auto`` (default) picks, per backend and at trace time: ``native`` for ``groups=1`` and off
TensorFlow; on TensorFlow ``tf_conv`` when a probe (a tiny grouped conv + bias and its
gradients, run once per process) succeeds on the default device, else ``split``
(``native`` for ``channels_first``).
Measured with ``benchmarks/grouped_conv.py`` (2-core AMD EPYC, TF 2.21 + oneDNN, graph
mode, 1x1 conv above, time / dense keras g=1 time, for g = 2/3/4/8): keras Conv2D(groups)
1.97/1.79/2.36/3.04 forward and 5.0/6.1/7.4/14.5 per training step; zoo auto (tf_conv)
0.69/0.56/0.55/0.55 forward, 0.82/0.57/0.41/0.48 training step; split and matmul land
in between (see benchmarks/README.md). ``channels_first`` runs on TF CPU only through
oneDNN (``tf_conv``/``split``) or ``native``/``matmul``; plain Eigen CPU kernels are NHWC-only.
"""

from __future__ import annotations

import functools

import keras
from keras import ops
from zoo.layers.formats import divisible_channels

IMPLEMENTATIONS = ("auto", "native", "tf_conv", "split", "matmul")


@functools.lru_cache(maxsize=None)
def tf_grouped_conv_supported() -> bool:
    """Whether TF runs a grouped conv and its gradients without XLA on the default device.

    True with oneDNN (x86 default) or a GPU; False with plain Eigen CPU kernels
    (``TF_ENABLE_ONEDNN_OPTS=0``), whose filter gradient rejects grouped kernels.
    """
    import tensorflow as tf

    @tf.function(jit_compile=False, autograph=False)
    def probe(x, kernel, bias):
        # conv + bias (Grappler fuses them) and a non-linear loss, as in a training step:
        # Eigen's fused forward and its filter gradient are the kernels that reject groups.
        # tf.gradients, not a GradientTape: init_scope below pauses tapes.
        y = tf.nn.bias_add(tf.nn.convolution(x, kernel, padding="SAME"), bias)
        return tf.gradients(tf.reduce_sum(tf.square(y)), [x, kernel])

    with tf.init_scope():  # run eagerly even when first asked during a trace
        try:
            grads = probe(tf.ones((2, 5, 5, 8)), tf.ones((3, 3, 2, 8)), tf.ones((8,)))
        except (tf.errors.OpError, ValueError):
            return False
    return all(g is not None for g in grads)


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


@keras.saving.register_keras_serializable(package="zoo")
class GroupedConv2D(keras.layers.Conv2D):
    """``Conv2D(groups=g)`` with a choice of how it is computed, never of what.

    Args:
        filters, kernel_size, groups, and every other ``keras.layers.Conv2D`` argument.
        implementation: one of ``IMPLEMENTATIONS`` (see the module docstring); ``"auto"``
            picks the fastest measured one for the backend and device at trace time.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, *, implementation="auto", **kwargs):
        owner = f"GroupedConv2D {kwargs['name']!r}" if kwargs.get("name") else "GroupedConv2D"
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"{owner}: invalid implementation={implementation!r}; "
                             f"allowed: one of {list(IMPLEMENTATIONS)}")
        for knob, value in (("filters", filters), ("groups", groups)):
            if not _is_positive_int(value):
                raise ValueError(f"{owner}: invalid {knob}={value!r}; allowed: an integer > 0")
        for knob, value in (("kernel_size", kernel_size), ("strides", strides),
                            ("dilation_rate", dilation_rate)):
            sizes = [value] if isinstance(value, int) else list(value) if isinstance(value, (tuple, list)) else []
            if not sizes or not all(_is_positive_int(v) for v in sizes):
                raise ValueError(f"{owner}: invalid {knob}={value!r}; allowed: a positive integer "
                                 "or a pair of positive integers")
        if filters % groups:
            raise ValueError(f"{owner}: filters ({filters}) must be divisible by groups ({groups})")
        if implementation == "matmul" and (_pair(kernel_size) != (1, 1) or _pair(strides) != (1, 1)):
            raise ValueError(f"{owner}: implementation='matmul' needs kernel_size=1 and strides=1, got "
                             f"kernel_size={kernel_size!r}, strides={strides!r}; use 'auto' or 'split'")
        if implementation == "tf_conv" and keras.backend.backend() != "tensorflow":
            raise ValueError(f"{owner}: implementation='tf_conv' needs the TensorFlow backend, "
                             f"not {keras.backend.backend()!r}; use 'auto'")
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, groups=groups, **kwargs)
        self.implementation = implementation

    def build(self, input_shape):
        divisible_channels(f"GroupedConv2D {self.name!r}", input_shape, self.data_format, self.groups,
                           "input channels")
        if self.padding == "valid":
            spatial = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4]
            for size, k, d in zip(spatial, self.kernel_size, self.dilation_rate):
                reach = (k - 1) * d + 1
                if size is not None and reach > size:
                    raise ValueError(
                        f"GroupedConv2D {self.name!r}: kernel {self.kernel_size} with dilation "
                        f"{self.dilation_rate} spans {reach} pixels, more than the input's {size} "
                        f"(input shape {tuple(input_shape)}) with padding='valid'")
        super().build(input_shape)

    def resolved_implementation(self) -> str:
        """The implementation ``auto`` stands for here (backend, device, groups)."""
        if self.implementation != "auto":
            return self.implementation
        if self.groups == 1 or keras.backend.backend() != "tensorflow":
            return "native"
        if tf_grouped_conv_supported():
            return "tf_conv"
        # Eigen CPU kernels are NHWC-only, so split's pieces cannot run NCHW; XLA can.
        return "split" if self.data_format == "channels_last" else "native"

    def convolution_op(self, inputs, kernel):
        implementation = self.resolved_implementation()
        if implementation == "native" or self.groups == 1:
            return super().convolution_op(inputs, kernel)
        if implementation == "tf_conv":
            return self._tf_conv(inputs, kernel)
        if implementation == "matmul":
            return self._matmul(inputs, kernel)
        return self._split(inputs, kernel)

    def _tf_conv(self, inputs, kernel):
        import tensorflow as tf

        return tf.nn.convolution(inputs, kernel, strides=self.strides, padding=self.padding.upper(),
                                 dilations=self.dilation_rate,
                                 data_format="NHWC" if self.data_format == "channels_last" else "NCHW")

    def _split(self, inputs, kernel):
        axis = -1 if self.data_format == "channels_last" else 1
        pieces = zip(ops.split(inputs, self.groups, axis=axis), ops.split(kernel, self.groups, axis=-1))
        return ops.concatenate(
            [ops.conv(x, k, strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate,
                      data_format=self.data_format) for x, k in pieces], axis=axis)

    def _matmul(self, inputs, kernel):
        g = self.groups
        per_in, per_out = kernel.shape[2], self.filters // g
        # (1, 1, in/g, g*out/g) -> (g, in/g, out/g): output channel o = group * per_out + j
        weights = ops.transpose(ops.reshape(kernel, (per_in, g, per_out)), (1, 0, 2))
        shape = ops.shape(inputs)
        if self.data_format == "channels_last":
            x = ops.reshape(inputs, (-1, g, per_in))
            y = ops.einsum("ngi,gio->ngo", x, weights)
            return ops.reshape(y, (shape[0], shape[1], shape[2], self.filters))
        x = ops.reshape(inputs, (shape[0], g, per_in, -1))
        y = ops.einsum("bgin,gio->bgon", x, weights)
        return ops.reshape(y, (shape[0], self.filters, shape[2], shape[3]))

    def get_config(self):
        return {**super().get_config(), "implementation": self.implementation}
