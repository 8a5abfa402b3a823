"""Channel correlation of a convolution: between output channels (over data) and between filters.

A grouped convolution's output channel sees only its group's inputs, so channels of one
group should correlate more with each other than with other groups' (block structure, the
ShuffleNet paper's argument for the shuffle). The numbers: mean |correlation| over pairs
of distinct channels in the same group versus in different groups; for a standard layer
pass ``groups=`` to compare the same partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from zoo.analysis.graph import _inputs
from zoo.common import invalid


@dataclass
class Correlation:
    layer: str
    groups: int
    activation: np.ndarray         # (C, C) correlation of output channels over the sample
    weights: np.ndarray            # (C, C) correlation of the flattened filters
    activation_within: float
    activation_across: float
    weights_within: float
    weights_across: float

    def to_dict(self) -> dict:
        return {"layer": self.layer, "groups": self.groups, "activation_within": self.activation_within,
                "activation_across": self.activation_across, "weights_within": self.weights_within,
                "weights_across": self.weights_across}

    def summary(self) -> str:
        return (f"{self.layer} (groups={self.groups}): mean |corr| activations within {self.activation_within:.3f} "
                f"vs across {self.activation_across:.3f}; filters within {self.weights_within:.3f} "
                f"vs across {self.weights_across:.3f}")


def correlation_matrix(samples: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns of (N, C); a constant column correlates 0 with all."""
    x = samples - samples.mean(axis=0)
    std = np.sqrt((x * x).mean(axis=0))
    ok = std > 1e-12
    x = np.where(ok, x / np.where(ok, std, 1.0), 0.0)
    corr = x.T @ x / len(x)
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def within_across(corr: np.ndarray, groups: int) -> tuple[float, float]:
    """Mean |corr| over distinct pairs in the same group and in different groups (nan if none)."""
    c = len(corr)
    group = np.arange(c) // (c // groups)
    same = group[:, None] == group[None, :]
    off = ~np.eye(c, dtype=bool)
    a = np.abs(corr)
    within = a[same & off].mean() if (same & off).any() else float("nan")
    across = a[~same].mean() if (~same).any() else float("nan")
    return float(within), float(across)


def channel_correlation(model, layer_name: str, images, *, groups: int | None = None,
                        max_positions: int = 20000, seed: int = 0) -> Correlation:
    """Correlations of ``layer_name``'s output channels over ``images`` and of its filters."""
    try:
        layer = model.get_layer(layer_name)
    except ValueError as err:
        raise ValueError(f"channel_correlation: model {model.name!r} has no layer {layer_name!r}") from err
    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)):
        raise invalid("channel_correlation", "layer", layer_name,
                      f"a convolution layer (got {type(layer).__name__})")
    out_channels = layer.output.shape[-1]
    groups = groups or getattr(layer, "groups", 1)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or out_channels % groups:
        raise invalid("channel_correlation", "groups", groups, f"a divisor of the {out_channels} output channels")
    probe = keras.Model(_inputs(model), layer.output)
    acts = keras.ops.convert_to_numpy(probe(np.asarray(images, dtype="float32"), training=False))
    acts = acts.reshape(-1, acts.shape[-1]).astype("float64")
    if len(acts) > max_positions:
        acts = acts[np.random.default_rng(seed).choice(len(acts), max_positions, replace=False)]
    kernel = layer.pointwise_kernel if isinstance(layer, keras.layers.SeparableConv2D) else layer.kernel
    kernel = keras.ops.convert_to_numpy(kernel).astype("float64")
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        filters = kernel.reshape(-1, kernel.shape[2] * kernel.shape[3])
    else:
        filters = kernel.reshape(-1, kernel.shape[-1])
    act_corr, w_corr = correlation_matrix(acts), correlation_matrix(filters)
    return Correlation(layer_name, groups, act_corr, w_corr, *within_across(act_corr, groups),
                       *within_across(w_corr, groups))


def write_tensorboard(results: list[Correlation], log_dir) -> None:
    """|correlation| matrices as images (white = 1) and the within/across numbers as scalars."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for step, r in enumerate(results):
            for kind, matrix in (("activation", r.activation), ("weights", r.weights)):
                image = np.abs(matrix).astype("float32")[None, :, :, None]
                tf.summary.image(f"correlation_{kind}/{r.layer}", image, step=0)
            tf.summary.scalar("correlation/activation_within", r.activation_within, step=step, description=r.layer)
            tf.summary.scalar("correlation/activation_across", r.activation_across, step=step)
            tf.summary.scalar("correlation/weights_within", r.weights_within, step=step)
            tf.summary.scalar("correlation/weights_across", r.weights_across, step=step)
    writer.flush()
