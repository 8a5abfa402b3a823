"""One suite over every registered model: build, forward, train, save/load, config, cost.

Each name is built once per module at 32x32 with 7 classes (an odd count catches
hard-coded 1000s); pytest ids are the registry names, so ``-k shufflenet_g3`` works.
"""

import numpy as np
import pytest
import keras

import zoo

MODELS = zoo.list_models()
SIZE, NUM_CLASSES, BATCH = 32, 7, 2

# Per-model exceptions, each with its reason: {name: {"build": {...extra knobs}, "why": "..."}}.
EXCEPTIONS: dict[str, dict] = {}


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module", params=MODELS)
def built(request):
    name = request.param
    extra = EXCEPTIONS.get(name, {}).get("build", {})
    model = zoo.build(name, input_shape=(SIZE, SIZE, 3), num_classes=NUM_CLASSES, **extra)
    x = np.random.default_rng(0).random((BATCH, SIZE, SIZE, 3), dtype="float32")
    return name, model, x


def test_forward_shape_and_finite(built):
    name, model, x = built
    y = to_numpy(model(x, training=False))
    assert y.shape == (BATCH, NUM_CLASSES), name
    assert np.isfinite(y).all(), name
    # The default head ends in a softmax: rows are distributions.
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-4)


def test_layer_names_unique_and_model_named(built):
    name, model, _ = built
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert model.name == zoo.get_spec(name).knobs["name"].default


def test_cost_params_match_count_params(built):
    from zoo.cost import analyze

    _, model, _ = built
    report = analyze(model)
    assert report.params == model.count_params()
    assert report.macs > 0


def test_estimate_params_is_the_built_count(built):
    """The size cap's estimate is plain arithmetic; here it must equal what Keras allocates."""
    name, model, _ = built
    knobs = {"input_shape": (SIZE, SIZE, 3), "num_classes": NUM_CLASSES, **EXCEPTIONS.get(name, {}).get("build", {})}
    estimate = zoo.registry.estimate_params(name, knobs)
    assert estimate == model.count_params()


def test_config_round_trip(built):
    _, model, x = built
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(to_numpy(clone(x, training=False)), to_numpy(model(x, training=False)),
                               rtol=1e-5, atol=1e-6)


def test_save_load_keras_file(built, tmp_path):
    _, model, x = built
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert [w.name for w in restored.weights] == [w.name for w in model.weights]
    np.testing.assert_array_equal(to_numpy(restored(x, training=False)), to_numpy(model(x, training=False)))


def test_one_training_step_changes_weights(built):
    # Last in the file: it compiles the shared model and moves its weights.
    _, model, x = built
    y = np.arange(BATCH) % NUM_CLASSES
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  run_eagerly=True)
    loss = model.train_on_batch(x, y)
    loss = float(np.ravel(loss)[0])
    assert np.isfinite(loss) and loss > 0
    after = [to_numpy(w) for w in model.trainable_weights]
    changed = [not np.array_equal(a, b) for a, b in zip(before, after)]
    assert all(changed), f"{changed.count(False)} of {len(changed)} trainable weights did not move"


@pytest.mark.parametrize("name", MODELS)
def test_builds_at_default_size(name):
    spec = zoo.get_spec(name)
    model = zoo.build(name)
    defaults = spec.knob_defaults()
    assert model.count_params() > 0
    assert tuple(model.input_shape[1:]) == tuple(defaults["input_shape"])
    assert model.output_shape == (None, defaults["num_classes"])
