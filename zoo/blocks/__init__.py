"""Functional block builders, ``f(x, ..., name=...) -> tensor``, shared by the families.

Blocks read their input channels from the tensor, give every sub-layer a deterministic
name (``{name}_{op}``), and use only ``keras.layers``/``keras.ops`` and ``zoo.layers``.
"""

from zoo.blocks.conv_bn_act import conv_bn_act, depthwise_bn_act  # noqa: F401
from zoo.blocks.head import classifier_head, head_params  # noqa: F401
