"""Custom serializable Keras layers: only the operations Keras does not have (or not fast)."""

from zoo.layers.channel_shuffle import ChannelShuffle  # noqa: F401
from zoo.layers.grouped_conv import GroupedConv2D  # noqa: F401
