"""Training BatchNormalization with TensorFlow's fused kernel, the layer left as Keras' own.

Keras 3 trains ``BatchNormalization`` on TensorFlow as composite ops (``ops.moments``, then
``tf.nn.batch_normalization``), and their gradients are a dozen element-wise kernels per
layer; Keras 2 and PyTorch call one fused kernel forward and one backward. On 2 CPU cores
(``benchmarks/train_speed.py``; 32 px, batch 128, float32) the fused kernel made a training
step 1.5x (ResNet-20), 1.5x (MobileNet) and 1.7x (MobileNetV2) faster.

The result is the same function in exact arithmetic, not bit for bit: the kernel sums in
another order (one SGD step moved weights by up to 2e-5, and by up to 3e-3 in quantities whose
true gradient is zero, such as the shift of a BatchNorm that another BatchNorm follows).
That is why it is a recipe choice (``[recipe] batchnorm = "fused"``, part of the suite
fingerprint when written) and not a silent default: published rows rerun bit for bit.

Only the training step changes. Inference, the layers' configs and variables, and so saved
``.keras`` files and checkpoints, stay exactly Keras' ``BatchNormalization``.
"""

from __future__ import annotations

import types

import keras

# FusedBatchNormV3's smallest epsilon (cuDNN's limit, kept by the CPU kernel's checks).
MIN_EPSILON = 1.001e-5


def _fusable(layer, inputs, mask) -> bool:
    """What the kernel computes: 4-D channels-last input, plain BatchNorm statistics."""
    axis = layer.axis if isinstance(layer.axis, int) else (layer.axis[0] if len(layer.axis) == 1 else None)
    return (mask is None and len(inputs.shape) == 4 and axis in (-1, 3) and not layer.renorm
            and not layer.synchronized and layer.epsilon >= MIN_EPSILON)


def _fused_call(self, inputs, training=None, mask=None):
    """``BatchNormalization.call`` with the training branch on FusedBatchNormV3."""
    if not (training and self.trainable) or not _fusable(self, inputs, mask):
        return type(self).call(self, inputs, training=training, mask=mask)
    import tensorflow as tf

    x = tf.cast(inputs, "float32")  # as Keras: statistics in float32 under mixed precision too
    channels = x.shape[-1]
    gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones((channels,), "float32")
    beta = tf.cast(self.beta, "float32") if self.center else tf.zeros((channels,), "float32")
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=self.epsilon,
                                                         data_format="NHWC", is_training=True)
    # The kernel returns the Bessel-corrected variance; Keras keeps the biased one (the one it
    # normalises with) in its moving average.
    shape = tf.shape(x)
    count = tf.cast(shape[0] * shape[1] * shape[2], "float32")
    variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
    momentum = self.momentum
    self.moving_mean.assign(tf.cast(self.moving_mean, "float32") * momentum + mean * (1.0 - momentum))
    self.moving_variance.assign(tf.cast(self.moving_variance, "float32") * momentum
                                + variance * (1.0 - momentum))
    return tf.cast(y, self.compute_dtype)


def use_fused_batchnorm(model) -> int:
    """Train every ``BatchNormalization`` of ``model`` (nested models too) with the fused kernel
    from the next traced step on; returns how many layers. Needs the TensorFlow backend.

    The override is per layer instance (its ``call``), so the class, config and saved files do
    not change; layers it cannot serve (masks, renorm, synchronized under a multi-worker
    strategy, channels-first, 2-D inputs) keep Keras' path step by step."""
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"batchnorm='fused' needs the TensorFlow backend (FusedBatchNormV3), not "
                         f"{keras.backend.backend()!r}; allowed here: batchnorm='keras'")
    from zoo.training import _all_layers

    norms = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        if getattr(layer.call, "__func__", None) is not _fused_call:
            layer.call = types.MethodType(_fused_call, layer)
    return len(norms)

