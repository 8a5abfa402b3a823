"""Tools for the survey's three problems: dead channels, channel correlation, receptive fields.

- ``dead_channels(model, images)``: per-layer activation / BatchNorm / weight statistics
  and the channels that are (near) zero or constant, with what they cost.
- ``plan_pruning`` / ``apply_pruning`` / ``prune``: remove channels and rebuild a smaller model.
- ``channel_correlation(model, layer, images)``: activation and filter correlation,
  within versus across groups.
"""

from zoo.analysis.graph import ChannelGraph, build_channel_graph  # noqa: F401
from zoo.analysis.prune import (CRITERIA, LayerSaving, PrunePlan, apply_pruning, exactly_dead_classes,  # noqa: F401
                                plan_pruning, prune)
from zoo.analysis.dead import DeadReport, LayerDead, Thresholds, dead_channels  # noqa: F401
from zoo.analysis.correlation import Correlation, channel_correlation, within_across  # noqa: F401
