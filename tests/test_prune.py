"""Pruning planted dead channels is exact; criteria prune consistently; unsupported graphs are refused."""

import keras
import numpy as np
import pytest

import zoo
from zoo.analysis import dead_channels, plan_pruning, prune
from zoo.cost import analyze

SHAPE = (32, 32, 3)


def _alive(model, plant=None, seed=0):
    """Random BN scales and positive shifts, [the planted channels zeroed,] then BN statistics set
    from ``_images()`` itself: on those images every other channel has mean beta > 0 and std
    gamma > 0 after its BN, so none is zero or constant by accident."""
    rng = np.random.default_rng(seed)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in bns:
        gamma, beta, mean, var = layer.get_weights()
        n = len(gamma)
        layer.set_weights([rng.uniform(0.5, 1.0, n), rng.uniform(1.0, 2.0, n), mean, var])
        layer.momentum = 0.0  # one training-mode pass sets the moving statistics to the batch's
    if plant:
        bn_name, channels = plant
        gamma, beta, mean, var = model.get_layer(bn_name).get_weights()
        gamma[channels] = 0.0
        beta[channels] = 0.0
        model.get_layer(bn_name).set_weights([gamma, beta, mean, var])
    model(_images(), training=True)
    for layer in bns:
        layer.momentum = 0.99
    return model


def _images(n=4, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, *SHAPE)).astype("float32")


# (registry name, knobs, BN to plant in, the conv it follows, channels as a function of its width)
CASES = {
    "mobilenet": ("mobilenet", {"width": 0.25}, "stage2_unit1_dw_bn", "stage2_unit1_dw_dw", lambda c: [0, 3]),
    "resnet20": ("resnet20", {"width": 0.5}, "stage1_unit1_conv1_bn", "stage1_unit1_conv1_conv", lambda c: [1, 2]),
    # after a g=2 shuffle, column k sits at {2k, 2k+1}: remove one column in each half of the
    # next grouped 1x1's input, so the shuffle and both grouped 1x1s stay balanced
    "shufflenet": ("shufflenet", {"width": 0.5, "groups": 2}, "stage2_unit1_dw_bn", "stage2_unit1_dw_dw",
                   lambda c: [0, 1, 2 * -(-c // 4), 2 * -(-c // 4) + 1]),
    "convnet": ("convnet", {"width": 0.25}, "stage2_unit0_bn", "stage2_unit0_conv", lambda c: [0, 1]),
    # grouped conv feeding a grouped conv (g=2): one channel from each group keeps them balanced
    "convnet_grouped": ("convnet", {"width": 0.25, "conv": "grouped", "groups": 2}, "stage2_unit1_bn",
                        "stage2_unit1_conv", lambda c: [0, c // 2]),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def planted(request):
    name, knobs, bn, conv, pick = CASES[request.param]
    model = zoo.build(name, input_shape=SHAPE, num_classes=10, **knobs)
    channels = pick(model.get_layer(bn).get_weights()[0].shape[0])
    _alive(model, plant=(bn, channels))
    x = _images()
    pruned, plan = prune(model, dead_on=x)
    return model, conv, channels, x, pruned, plan


def test_analysis_finds_exactly_the_planted_channels(planted):
    model, conv, channels, x, _, _ = planted
    report = dead_channels(model, x, with_plan=False)
    found = {(r.name, c) for r in report.layers for c in r.dead}
    assert found == {(conv, c) for c in channels}
    assert report.layer(conv).dead_share == pytest.approx(len(channels) / report.layer(conv).channels)


def test_pruning_dead_channels_keeps_outputs_and_saves_predicted_cost(planted):
    model, conv, channels, x, pruned, plan = planted
    assert plan.predicted_params_saved > 0 and plan.predicted_macs_saved > 0
    np.testing.assert_allclose(np.asarray(pruned(x)), np.asarray(model(x)), atol=1e-5)
    before, after = analyze(model), analyze(pruned)
    assert after.params == before.params - plan.predicted_params_saved
    assert after.macs == before.macs - plan.predicted_macs_saved
    assert pruned.get_layer(conv).output.shape[-1] == model.get_layer(conv).output.shape[-1] - len(channels)


def test_convnet_saving_by_hand():
    """Two output channels of a 3x3 conv (16 -> 32 channels at width 0.25): its filters, its BN, the next conv's inputs."""
    model = _alive(zoo.build("convnet", input_shape=SHAPE, num_classes=10, width=0.25),
                   plant=("stage2_unit0_bn", [0, 1]))
    plan = plan_pruning(model, dead_on=_images())
    conv = model.get_layer("stage2_unit0_conv")
    cin = conv.input.shape[-1]
    nxt_out = model.get_layer("stage2_unit1_conv").output.shape[-1]
    assert plan.predicted_params_saved == 2 * 9 * cin + 2 * 4 + 2 * 9 * nxt_out
    hw = conv.output.shape[1] * conv.output.shape[2]
    assert plan.predicted_macs_saved == hw * 2 * 9 * cin + hw * 2 * 9 * nxt_out


def test_residual_channels_are_tied_across_adds():
    model = _alive(zoo.build("resnet20", input_shape=SHAPE, num_classes=10, width=0.5))
    plan = plan_pruning(model, remove={"stage1_unit0_conv2_conv": [3]})
    # the residual stream: every conv2 of stage 1 and the stem lose channel 3 together
    for name in ("stem_conv", "stage1_unit0_conv2_conv", "stage1_unit2_conv2_conv"):
        assert plan.removed_channels(name) == [3]
    pruned = keras.Model.from_config(model.get_config())  # sanity: the original config rebuilds
    assert pruned.count_params() == model.count_params()


@pytest.mark.parametrize("name,knobs,criterion", [
    ("shufflenet_v2", {"width": 0.5}, "bn_gamma"),
    ("resnet20", {"width": 0.5}, "l1"),
    ("shufflenet", {"width": 0.5, "groups": 3}, "bn_gamma"),
    ("mobilenet_v2", {"width": 0.35}, "bn_gamma"),
    ("squeezenet1_1", {}, "l1"),  # Fire modules: Concatenate offsets
    ("dilated", {}, "l1"),
])
def test_criterion_pruning_rebuilds_a_consistent_smaller_model(name, knobs, criterion, tmp_path):
    model = _alive(zoo.build(name, input_shape=SHAPE, num_classes=10, **knobs))
    pruned, plan = prune(model, criterion=criterion, ratio=0.25)
    before, after = analyze(model), analyze(pruned)
    assert plan.predicted_params_saved > 0
    assert after.params == before.params - plan.predicted_params_saved
    assert after.macs == before.macs - plan.predicted_macs_saved
    assert pruned.output_shape == model.output_shape
    path = tmp_path / "pruned.keras"
    pruned.save(path)
    x = _images(2)
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(path)(x)), np.asarray(pruned(x)), atol=1e-6)


def test_unsupported_layer_is_refused_by_name():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(x))
    with pytest.raises(ValueError, match="'flat'.*Flatten"):
        plan_pruning(model, remove={"conv": [0]})


@pytest.mark.parametrize("kwargs,match", [
    ({}, "nothing to remove"),
    ({"criterion": "random", "ratio": 0.5}, "criterion='random'"),
    ({"criterion": "l1", "ratio": 1.5}, "ratio=1.5"),
    ({"remove": {"nope": [0]}}, "unknown layer 'nope'"),
    ({"remove": {"conv": [9]}}, r"channel indices in \[0, 4\)"),
])
def test_bad_arguments(kwargs, match):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(ValueError, match=match):
        plan_pruning(model, **kwargs)


def test_softmax_across_channels_is_never_pruned():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="softmax", name="soft")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))
    with pytest.raises(ValueError, match="softmax across its channels"):
        plan_pruning(model, remove={"soft": [0]})
    assert plan_pruning(model, criterion="l1", ratio=0.5).removed == set()


def test_a_grouped_conv_loses_a_whole_group():
    """Group 1 of a g=4 conv has dead inputs and dead outputs: it goes, and groups becomes 3."""
    from zoo.layers import GroupedConv2D

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="a")(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="a_bn")(x))
    x = GroupedConv2D(8, 3, groups=4, padding="same", use_bias=False, name="b")(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="b_bn")(x))
    x = keras.layers.Conv2D(4, 1, name="c")(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    for bn in ("a_bn", "b_bn"):
        gamma, beta, mean, var = model.get_layer(bn).get_weights()
        gamma[2:4] = beta[2:4] = 0.0
        beta[:2] = beta[4:] = 1.0
        model.get_layer(bn).set_weights([gamma, beta, mean, var])
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    pruned, plan = prune(model, dead_on=x)
    assert pruned.get_layer("b").groups == 3 and pruned.get_layer("b").filters == 6
    np.testing.assert_allclose(np.asarray(pruned(x)), np.asarray(model(x)), atol=1e-5)
    assert analyze(pruned).params == analyze(model).params - plan.predicted_params_saved
