"""``[recipe] batchnorm = "fused"``: BatchNorm trains on TensorFlow's fused kernel, as the same
function as Keras' composite ops (up to rounding), and the model stays Keras' own."""

import keras
import numpy as np
import pytest

import zoo
from zoo.layers.fused_batchnorm import _fused_call, use_fused_batchnorm
from zoo.training import Recipe, compile_model


def tiny(momentum=0.5, **bn):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2, 2, 3))
    x = keras.layers.Conv2D(4, 1)(inputs)
    x = keras.layers.BatchNormalization(momentum=momentum, **bn)(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def train_pair(build, steps, x, y, recipe=None):
    plain, fused = build(), build()
    fused.set_weights(plain.get_weights())
    for model, kind in ((plain, "keras"), (fused, "fused")):
        if recipe is None:
            if kind == "fused":
                use_fused_batchnorm(model)
            model.compile(keras.optimizers.SGD(0.1), "mse")
        else:
            compile_model(model, Recipe(**recipe, batchnorm=kind), steps_per_epoch=10, num_classes=10)
        for _ in range(steps):
            model.train_on_batch(x, y)
    return plain, fused


def test_moving_variance_is_the_biased_one_keras_keeps():
    """Batch of 2x2x2 = 8 values per channel: the kernel's Bessel-corrected variance would be
    8/7 of Keras', so the moving variance shows whether the correction is undone."""
    x = np.random.default_rng(0).normal(size=(2, 2, 2, 3)).astype("float32")
    plain, fused = train_pair(tiny, 3, x, np.zeros((2, 4), "float32"))
    for a, b in zip(plain.weights, fused.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)


@pytest.mark.parametrize("name, knobs", [("resnet20", {"width": 0.25}), ("mobilenet_v2", {"width": 0.35})])
def test_a_family_trains_to_the_same_weights_up_to_rounding(name, knobs):
    """"Up to rounding", measured against the network's own sensitivity: the fused run may move
    no further from Keras' than Keras moves when the input changes by one part in 10^7.
    (MobileNetV2 at 16 px amplifies such a change to 0.3 in the weights within 3 steps, Keras
    against itself, so an absolute bound would test the network, not the kernel.)"""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 10, size=(16,)).astype("int32")

    def build():
        keras.utils.set_random_seed(0)
        return zoo.build(name, input_shape=(16, 16, 3), num_classes=10, **knobs)

    recipe = {"learning_rate": 0.01, "batch_size": 16}
    plain, fused = train_pair(build, 2, x, y, recipe=recipe)
    nudged, _ = train_pair(build, 2, x * np.float32(1 + 1e-7), y, recipe=recipe)
    norms = [l for l in fused._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    assert norms and all(l.call.__func__ is _fused_call for l in norms)

    def distance(a, b):
        return max(float(np.abs(u.numpy() - v.numpy()).max()) for u, v in zip(a.trainable_weights, b.trainable_weights))

    assert distance(plain, fused) <= max(10 * distance(plain, nudged), 1e-5), (distance(plain, fused),
                                                                               distance(plain, nudged))
    assert distance(plain, fused) > 0  # the fused kernel really ran (it sums in another order)


def test_saved_model_is_keras_batchnorm_and_inference_is_keras(tmp_path):
    x = np.random.default_rng(1).normal(size=(4, 2, 2, 3)).astype("float32")
    plain, fused = train_pair(tiny, 2, x, np.zeros((4, 4), "float32"))
    path = tmp_path / "fused.keras"
    fused.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[2]) is keras.layers.BatchNormalization
    drop_name = lambda config: {k: v for k, v in config.items() if k != "name"}  # noqa: E731
    assert drop_name(loaded.layers[2].get_config()) == drop_name(plain.layers[2].get_config())
    np.testing.assert_array_equal(loaded(x, training=False).numpy(), fused(x, training=False).numpy())


@pytest.mark.parametrize("bn, layer_input", [
    ({"synchronized": True}, (2, 2, 3)),  # multi-worker training: all-reduced statistics
    ({"renorm": True}, (2, 2, 3)),
    ({"axis": 1}, (2, 2, 3)),  # not channels-last
    ({"epsilon": 1e-6}, (2, 2, 3)),  # below the kernel's smallest epsilon
])
def test_layers_the_kernel_cannot_serve_keep_keras_path_exactly(bn, layer_input):
    x = np.random.default_rng(2).normal(size=(4, *layer_input)).astype("float32")
    plain, fused = train_pair(lambda: tiny(**bn), 2, x, np.zeros((4, 4), "float32"))
    for a, b in zip(plain.weights, fused.weights):
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)


def test_batchnorm_setting_is_checked_and_hashed_only_when_written(tmp_path):
    with pytest.raises(ValueError, match=r"batchnorm.*'cudnn'.*one of \['keras', 'fused'\]"):
        Recipe(batchnorm="cudnn")
    from zoo.bench.spec import load_suite

    text = ('name = "bn"\ndescription = "d"\n[dataset]\nname = "cifar10"\nimage_size = 32\n'
            '[recipe]\nepochs = 2\n{extra}[[models]]\nname = "resnet20"\n')
    ids = {}
    for extra in ("", 'batchnorm = "keras"\n', 'batchnorm = "fused"\n'):
        path = tmp_path / "bn.toml"
        path.write_text(text.format(extra=extra))
        suite = load_suite(path)
        ids[extra] = suite.configurations()[0].run_id
        assert suite.training.batchnorm == (extra.split('"')[1] if extra else "keras")
    assert len(set(ids.values())) == 3  # a run trained either way is its own row


def test_other_backends_are_refused(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ValueError, match="batchnorm='fused' needs the TensorFlow backend"):
        use_fused_batchnorm(tiny())
