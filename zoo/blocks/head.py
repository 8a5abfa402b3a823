"""The keras.applications-style head shared by every family."""

from __future__ import annotations

from keras import layers


def classifier_head(x, *, num_classes, include_top, pooling, dropout, classifier_activation,
                    name="head"):
    """Global average pool -> dropout -> Dense(num_classes), or the bare ``pooling`` when no top.

    Matches keras.applications: with ``include_top=False`` the features are returned as
    they are (``pooling=None``), or globally average- or max-pooled.
    """
    if include_top:
        x = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
        return layers.Dense(num_classes, activation=classifier_activation, name=f"{name}_predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=f"{name}_pool")(x)
    return x


def head_params(channels, knobs):
    """Parameters of ``classifier_head`` on ``channels`` features, for the families' size estimates."""
    return channels * knobs["num_classes"] + knobs["num_classes"] if knobs["include_top"] else 0
