"""SqueezeNet's fire module: a 1x1 squeeze layer feeding parallel 1x1 and 3x3 expand layers.

As in the paper and torchvision, every convolution has a bias and is followed by ReLU;
there is no batch normalisation. Without it, Keras' default Glorot initialisation shrinks
the signal by ~400x through SqueezeNet and training never leaves chance, so the weights start
as torchvision's do: He (Kaiming) uniform, biases zero.
"""

from __future__ import annotations

from keras import layers

# torchvision's SqueezeNet: kaiming_uniform_ (gain sqrt(2), bound sqrt(6 / fan_in)) = He uniform.
INITIALIZER = "he_uniform"

from zoo.common import channel_axis


def fire(x, squeeze, expand_1x1, expand_3x3, *, name):
    """squeeze 1x1 -> ReLU -> [expand 1x1 -> ReLU ∥ expand 3x3 -> ReLU] -> concat.

    Output channels: ``expand_1x1 + expand_3x3``. Layers: ``{name}_squeeze``,
    ``{name}_expand1x1``, ``{name}_expand3x3`` (each with a ``_relu``), ``{name}_concat``.
    """
    s = layers.Conv2D(squeeze, 1, kernel_initializer=INITIALIZER, name=f"{name}_squeeze")(x)
    s = layers.ReLU(name=f"{name}_squeeze_relu")(s)
    e1 = layers.Conv2D(expand_1x1, 1, kernel_initializer=INITIALIZER, name=f"{name}_expand1x1")(s)
    e1 = layers.ReLU(name=f"{name}_expand1x1_relu")(e1)
    e3 = layers.Conv2D(expand_3x3, 3, padding="same", kernel_initializer=INITIALIZER, name=f"{name}_expand3x3")(s)
    e3 = layers.ReLU(name=f"{name}_expand3x3_relu")(e3)
    return layers.Concatenate(axis=channel_axis(), name=f"{name}_concat")([e1, e3])
