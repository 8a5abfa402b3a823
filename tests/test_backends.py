"""Every family computes the same function on JAX as on TensorFlow (models use keras.ops only).

One subprocess with ``KERAS_BACKEND=jax`` (the backend is fixed at import, and importing
JAX is slow) builds each family, loads the weights saved from the TensorFlow build, and
returns its outputs for the same input.
"""

import json
import os
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest
import keras

import zoo

SIZE, NUM_CLASSES = 32, 7
# Smaller settings where a family's default is needlessly big for an equality check.
SMALL_KNOBS = {"xception": {"width": 0.25, "middle_blocks": 1}}
# Variants that swap in other layer types than their family's default (grouped, separable, dilated).
EXTRA_NAMES = ("convnet_dilated", "convnet_grouped", "convnet_separable", "convnet_pointwise")

JAX_SCRIPT = r"""
import json, os, sys
import numpy as np
import keras
import zoo

assert keras.backend.backend() == "jax", keras.backend.backend()

# Every weight is overwritten by load_weights, so skip the random initializers: on JAX each
# one compiles an XLA program per weight shape (most of this script's time otherwise).
# Private Keras API: when it moves, the script only gets slower.
from keras.src.backend.jax import core
if hasattr(core.Variable, "_initialize_with_initializer"):
    def _zeros(self, initializer):
        self._initialize(self._convert_to_tensor(np.zeros(self._shape, self._dtype)))
    core.Variable._initialize_with_initializer = _zeros
folder = sys.argv[1]
specs = json.load(open(os.path.join(folder, "specs.json")))
x = np.load(os.path.join(folder, "x.npy"))
for label, (name, knobs) in specs.items():
    model = zoo.build(name, **{k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()})
    model.load_weights(os.path.join(folder, label + ".weights.h5"))
    np.save(os.path.join(folder, label + ".jax.npy"), np.asarray(model.predict_on_batch(x)))  # one jit-compiled call
"""


def names_to_check():
    """One name per family (its own name when registered, else its first variant), plus EXTRA_NAMES."""
    by_family = defaultdict(list)
    for name in zoo.list_models():
        by_family[zoo.get_spec(name).family].append(name)
    chosen = {family: family if family in names else names[0] for family, names in by_family.items()}
    return {**chosen, **{name: name for name in EXTRA_NAMES if name in zoo.list_models()}}


@pytest.mark.slow
def test_jax_matches_tensorflow_for_every_family(tmp_path):
    assert keras.backend.backend() == "tensorflow"
    x = np.random.default_rng(0).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    specs, expected = {}, {}
    for label, name in names_to_check().items():
        knobs = dict(input_shape=(SIZE, SIZE, 3), num_classes=NUM_CLASSES, classifier_activation=None,
                     **SMALL_KNOBS.get(zoo.get_spec(name).family, {}))
        model = zoo.build(name, **knobs)
        # Non-trivial BN statistics, so a BN mix-up between backends would show.
        rng = np.random.default_rng(1)
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
                layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape))
        model.save_weights(tmp_path / f"{label}.weights.h5")
        expected[label] = keras.ops.convert_to_numpy(model(x, training=False))
        specs[label] = (name, knobs)
    (tmp_path / "specs.json").write_text(json.dumps(specs))

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    assert {"mobilenet", "mobilenet_v2", "xception", "resnet", "convnet"} <= set(specs)
    for label in specs:
        got = np.load(tmp_path / f"{label}.jax.npy")
        assert got.shape == expected[label].shape == (2, NUM_CLASSES), label
        np.testing.assert_allclose(got, expected[label], rtol=1e-4, atol=1e-4, err_msg=label)
