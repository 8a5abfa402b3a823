"""Custom serializable Keras layers (only what Keras lacks or runs slowly) and the conv factory."""

from zoo.layers.channel_shuffle import ChannelShuffle  # noqa: F401
from zoo.layers.grouped_conv import GroupedConv2D  # noqa: F401
from zoo.layers.factory import CONV_TYPES, make_conv  # noqa: F401
from zoo.layers.channel_slice import ChannelSlice  # noqa: F401
from zoo.layers.shortcut import ShortcutA  # noqa: F401
