"""Layer tests: the conv factory, ChannelShuffle and GroupedConv2D (equality with Keras)."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import CONV_TYPES, ChannelShuffle, GroupedConv2D, make_conv
from zoo.layers.factory import DEFAULT_DILATION
from zoo.layers.grouped_conv import IMPLEMENTATIONS, tf_grouped_conv_supported

RNG = np.random.default_rng(0)


def single_layer_model(kind, in_channels=8, filters=16, kernel_size=3, size=9, **kwargs):
    inputs = keras.Input((size, size, in_channels))
    return keras.Model(inputs, make_conv(kind, filters, kernel_size, name="c", **kwargs)(inputs))


# --- conv factory -------------------------------------------------------------------


@pytest.mark.parametrize("use_bias", [False, True])
def test_factory_param_counts_follow_the_survey_formulas(use_bias):
    m, n, k, b = 8, 16, 3, int(use_bias)
    expected = {
        "standard": n * (m * k * k + b),
        "dilated": n * (m * k * k + b),
        "pointwise": n * (m + b),
        "grouped": n * (m // 4 * k * k + b),
        "depthwise": n * (k * k + b),                  # depth_multiplier = n / m = 2
        "separable": m * k * k + n * m + b * (m + n),  # C·K² + N·C + C + N with both biases
    }
    assert set(expected) == set(CONV_TYPES)
    for kind, count in expected.items():
        model = single_layer_model(kind, m, n, k, groups=4, use_bias=use_bias)
        assert model.count_params() == count, kind


def test_factory_layer_types_and_names():
    assert [type(l).__name__ for l in single_layer_model("separable").layers[1:]] == \
        ["DepthwiseConv2D", "Conv2D"]
    assert [l.name for l in single_layer_model("separable").layers[1:]] == ["c_dw", "c_pw"]
    assert single_layer_model("dilated").get_layer("c").dilation_rate == (DEFAULT_DILATION,) * 2
    assert single_layer_model("dilated", dilation=4).get_layer("c").dilation_rate == (4, 4)
    assert single_layer_model("pointwise", kernel_size=5).get_layer("c").kernel_size == (1, 1)
    grouped = single_layer_model("grouped", groups=2).get_layer("c")
    assert type(grouped).__name__ == "GroupedConv2D" and grouped.groups == 2
    assert single_layer_model("depthwise", filters=24).get_layer("c").depth_multiplier == 3
    fused = single_layer_model("separable_fused", use_bias=True)
    assert fused.count_params() == 8 * 9 + 16 * 8 + 16


def test_factory_output_shapes_with_stride():
    for kind in CONV_TYPES:
        if kind == "dilated":
            continue  # dilated convolutions cannot stride (checked below)
        y = single_layer_model(kind, strides=2, groups=2).output
        assert tuple(y.shape) == (None, 5, 5, 16), kind


@pytest.mark.parametrize("kwargs, words", [
    (dict(kind="winograd"), ["kind", "standard", "separable"]),
    (dict(filters=0), ["filters", "0"]),
    (dict(kernel_size=-1), ["kernel_size", "-1"]),
    (dict(strides=0), ["strides"]),
    (dict(kind="grouped", groups=1), ["groups", ">= 2"]),
    (dict(kind="grouped", groups=3), ["groups", "filters=16"]),
    (dict(kind="dilated", strides=2), ["strides", "dilation=2"]),
    (dict(padding="full"), ["padding", "same"]),
])
def test_factory_rejects_bad_arguments_before_building(kwargs, words):
    args = dict(kind="standard", filters=16, kernel_size=3, name="c") | kwargs
    with pytest.raises(ValueError) as err:
        make_conv(**args)
    for word in words:
        assert word in str(err.value)


def test_factory_follows_channels_first_data_format():
    keras.config.set_image_data_format("channels_first")
    try:
        inputs = keras.Input((8, 9, 9))
        shapes = {kind: tuple(make_conv(kind, 16, groups=2, strides=2, name="c")(inputs).shape)
                  for kind in CONV_TYPES if kind != "dilated"}
    finally:
        keras.config.set_image_data_format("channels_last")
    assert set(shapes.values()) == {(None, 16, 5, 5)}, shapes


def test_factory_rejects_channel_mismatch_when_applied():
    x = keras.Input((9, 9, 6))
    with pytest.raises(ValueError, match=r"multiple of the input channels \(6\)"):
        make_conv("depthwise", 16, name="c")(x)
    with pytest.raises(ValueError, match=r"input channels \(6\)"):
        make_conv("grouped", 16, groups=4, name="c")(x)
    with pytest.raises(ValueError, match=r"'c'.*spans 5 pixels.*\(9, 4\)"):
        make_conv("dilated", 16, padding="valid", name="c")(keras.Input((9, 4, 6)))


# --- ChannelShuffle -------------------------------------------------------------------


def test_channel_shuffle_is_the_paper_permutation():
    x = np.arange(12, dtype="float32").reshape(1, 1, 1, 12)
    y = keras.ops.convert_to_numpy(ChannelShuffle(3)(x))
    assert y[0, 0, 0].tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]


@pytest.mark.parametrize("groups", [2, 3, 4, 6])
def test_channel_shuffle_inverse_restores_input(groups):
    x = RNG.random((2, 5, 5, 12), dtype="float32")
    y = ChannelShuffle(12 // groups)(ChannelShuffle(groups)(x))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(y), x)
    assert not np.array_equal(keras.ops.convert_to_numpy(ChannelShuffle(groups)(x)), x)


def test_channel_shuffle_channels_first_matches_channels_last():
    x = RNG.random((2, 4, 3, 12), dtype="float32")
    last = keras.ops.convert_to_numpy(ChannelShuffle(4, data_format="channels_last")(x))
    first = ChannelShuffle(4, data_format="channels_first")(np.transpose(x, (0, 3, 1, 2)))
    np.testing.assert_array_equal(np.transpose(keras.ops.convert_to_numpy(first), (0, 2, 3, 1)), last)


def test_channel_shuffle_unknown_batch_and_spatial_sizes():
    inputs = keras.Input((None, None, 12))
    model = keras.Model(inputs, ChannelShuffle(3)(inputs))
    assert tuple(model.output.shape) == (None, None, None, 12)
    shuffle = ChannelShuffle(3)
    graph_fn = tf.function(shuffle, input_signature=[tf.TensorSpec((None, None, None, 12))])
    first = tf.function(ChannelShuffle(3, data_format="channels_first"),
                        input_signature=[tf.TensorSpec((None, 12, None, None))])
    for size in (3, 7):
        x = RNG.random((size - 1, size, size + 1, 12), dtype="float32")
        expected = x[..., [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]]
        np.testing.assert_array_equal(model(x), expected)
        np.testing.assert_array_equal(graph_fn(x), expected)
        np.testing.assert_array_equal(first(np.transpose(x, (0, 3, 1, 2))), np.transpose(expected, (0, 3, 1, 2)))


def test_channel_shuffle_errors_name_the_numbers():
    with pytest.raises(ValueError, match=r"channels \(10\).*groups \(4\)"):
        ChannelShuffle(4, name="shuffle")(keras.Input((5, 5, 10)))
    with pytest.raises(ValueError, match="groups=0"):
        ChannelShuffle(0)
    with pytest.raises(ValueError, match="data_format='nhwc'"):
        ChannelShuffle(2, data_format="nhwc")


def test_channel_shuffle_config_round_trip():
    layer = ChannelShuffle(groups=4, data_format="channels_first", name="cs")
    config = layer.get_config()
    assert {"groups": 4, "data_format": "channels_first", "name": "cs"}.items() <= config.items()
    assert ChannelShuffle.from_config(config).get_config() == config


# --- GroupedConv2D: equality with keras Conv2D(groups) ------------------------------

IN_CHANNELS = FILTERS = 24  # divisible by every tested group count
GROUPS = [1, 2, 3, 4, 8]
CONV_CASES = {  # (kernel, strides, dilation, padding, use_bias)
    "k1": (1, 1, 1, "same", True),
    "k1_s2": (1, 2, 1, "valid", False),
    "k3": (3, 1, 1, "same", False),
    "k3_s2_valid": (3, 2, 1, "valid", True),
    "k3_d2": (3, 1, 2, "same", True),
    "k3_d2_valid": (3, 1, 2, "valid", False),
}


def implementations_for(kernel, strides):
    """Every implementation that can run here (tf_conv needs TF with oneDNN or a GPU)."""
    impls = [i for i in IMPLEMENTATIONS if i != "matmul" or (kernel, strides) == (1, 1)]
    return impls if tf_grouped_conv_supported() else [i for i in impls if i != "tf_conv"]


def reference_and_copies(groups, case, data_format="channels_last", shape=(2, 11, 11, IN_CHANNELS)):
    """A built Conv2D(groups) with random weights, and every GroupedConv2D implementation holding them."""
    kernel, strides, dilation, padding, use_bias = CONV_CASES[case]
    kwargs = dict(strides=strides, dilation_rate=dilation, padding=padding, use_bias=use_bias,
                  groups=groups, data_format=data_format)
    reference = keras.layers.Conv2D(FILTERS, kernel, **kwargs)
    reference.build(shape)
    reference.set_weights([RNG.standard_normal(w.shape).astype("float32") for w in reference.get_weights()])
    copies = {}
    for impl in implementations_for(kernel, strides):
        layer = GroupedConv2D(FILTERS, kernel, implementation=impl, **kwargs)
        layer.build(shape)
        layer.set_weights(reference.get_weights())
        copies[impl] = layer
    return reference, copies


@pytest.mark.parametrize("case", list(CONV_CASES))
@pytest.mark.parametrize("groups", GROUPS)
def test_grouped_conv_equals_keras_conv2d_groups(groups, case):
    reference, copies = reference_and_copies(groups, case)
    x = RNG.standard_normal((2, 11, 11, IN_CHANNELS)).astype("float32")
    expected = keras.ops.convert_to_numpy(reference(x))
    for impl, layer in copies.items():
        assert layer.kernel.shape == reference.kernel.shape
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-4, atol=1e-4,
                                   err_msg=impl)


@pytest.mark.parametrize("case", ["k1", "k3_s2_valid"])
def test_grouped_conv_channels_first(case):
    # TF's oneDNN CPU kernels run NCHW; plain Eigen CPU kernels cannot (then use channels_last).
    _, last = reference_and_copies(3, case)
    x = RNG.standard_normal((2, 11, 11, IN_CHANNELS)).astype("float32")
    expected = keras.ops.convert_to_numpy(last["native"](x))
    for impl in implementations_for(*CONV_CASES[case][:2]):
        if impl == "split" and not tf_grouped_conv_supported():
            continue  # each piece is an NCHW conv, which Eigen CPU kernels lack
        layer = GroupedConv2D(FILTERS, CONV_CASES[case][0], strides=CONV_CASES[case][1],
                              padding=CONV_CASES[case][3], use_bias=CONV_CASES[case][4], groups=3,
                              data_format="channels_first", implementation=impl)
        layer.build((2, IN_CHANNELS, 11, 11))
        layer.set_weights(last["native"].get_weights())
        y = layer(np.transpose(x, (0, 3, 1, 2)))
        np.testing.assert_allclose(np.transpose(keras.ops.convert_to_numpy(y), (0, 2, 3, 1)), expected,
                                   rtol=1e-4, atol=1e-4, err_msg=impl)


@pytest.mark.parametrize("case", ["k1", "k3_d2", "k3_s2_valid"])
def test_grouped_conv_gradients_equal_in_graph_mode(case):
    reference, copies = reference_and_copies(4, case)
    x = tf.constant(RNG.standard_normal((2, 11, 11, IN_CHANNELS)), tf.float32)

    def grads(layer):
        @tf.function(jit_compile=False)
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.square(layer(x)))
            return tape.gradient(loss, [x, *layer.trainable_variables])
        return [g.numpy() for g in step(x)]

    expected = grads(reference)
    for impl, layer in copies.items():
        for got, want in zip(grads(layer), expected):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3, err_msg=impl)


def test_grouped_conv_fit_matches_keras_conv2d_groups():
    def model(conv):
        inputs = keras.Input((8, 8, 12))
        x = conv(24, 3, groups=3, padding="same", activation="relu", name="conv")(inputs)
        outputs = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(x))
        return keras.Model(inputs, outputs)

    ours, theirs = model(GroupedConv2D), model(keras.layers.Conv2D)
    ours.set_weights(theirs.get_weights())
    x, y = RNG.random((4, 8, 8, 12), dtype="float32"), np.arange(4) % 5
    initial = ours.get_weights()
    for m in (ours, theirs):
        m.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
        m.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert not np.allclose(ours.get_weights()[0], initial[0])  # training moved the grouped kernel
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kernel, strides, impls", [(1, 1, ("auto", "split", "matmul")),
                                                     (3, 2, ("auto", "split"))])
def test_grouped_conv_unknown_batch_and_spatial_sizes(kernel, strides, impls):
    inputs = keras.Input((None, None, 12))
    for impl in impls:
        layer = GroupedConv2D(6, kernel, strides=strides, padding="same", groups=3, implementation=impl)
        model = keras.Model(inputs, layer(inputs))
        graph_fn = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 12))])
        x = RNG.random((3, 5, 7, 12), dtype="float32")
        want = keras.ops.conv(x, layer.kernel, strides=strides, padding="same", data_format="channels_last")
        want = keras.ops.convert_to_numpy(want) + keras.ops.convert_to_numpy(layer.bias)
        np.testing.assert_allclose(model(x), want, rtol=1e-5, atol=1e-5, err_msg=impl)
        np.testing.assert_allclose(graph_fn(x), want, rtol=1e-5, atol=1e-5, err_msg=impl)


def _xla_calls(fn, x):
    graph = tf.function(fn).get_concrete_function(x).graph
    return [op.name for op in graph.get_operations()
            if "_XlaMustCompile" in op.node_def.attr and op.node_def.attr["_XlaMustCompile"].b]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TF backend dispatch")
def test_auto_avoids_keras_xla_detour_on_tensorflow():
    x = tf.TensorSpec((2, 8, 8, 24))
    keras_conv = keras.layers.Conv2D(24, 1, groups=4)
    assert _xla_calls(keras_conv, x), "Keras no longer routes grouped convs through XLA: re-measure auto"
    ours = GroupedConv2D(24, 1, groups=4)
    assert ours.resolved_implementation() == ("tf_conv" if tf_grouped_conv_supported() else "split")
    assert _xla_calls(ours, x) == []
    assert GroupedConv2D(24, 1, groups=1).resolved_implementation() == "native"


# --- GroupedConv2D: bad input, serialization -----------------------------------------


@pytest.mark.parametrize("kwargs, words", [
    (dict(filters=0), ["'g'", "filters=0"]),
    (dict(filters=-8), ["filters=-8"]),
    (dict(kernel_size=0), ["kernel_size=0"]),
    (dict(kernel_size=(3, -1)), ["kernel_size=(3, -1)"]),
    (dict(strides=0), ["strides=0"]),
    (dict(dilation_rate=0), ["dilation_rate=0"]),
    (dict(groups=0), ["groups=0"]),
    (dict(groups=5), ["filters (24)", "groups (5)"]),
    (dict(implementation="fast"), ["implementation='fast'", "split"]),
    (dict(implementation="matmul"), ["matmul", "kernel_size=3"]),
])
def test_grouped_conv_rejects_bad_arguments_in_init(kwargs, words):
    args = dict(filters=24, kernel_size=3, groups=3, name="g") | kwargs
    with pytest.raises(ValueError) as err:
        GroupedConv2D(**args)
    for word in words:
        assert word in str(err.value)


def test_grouped_conv_rejects_bad_input_in_build():
    with pytest.raises(ValueError, match=r"'g'.*input channels \(10\).*groups \(4\)"):
        GroupedConv2D(24, 1, groups=4, name="g")(keras.Input((8, 8, 10)))
    with pytest.raises(ValueError, match=r"'g'.*spans 5 pixels.*input's 4"):
        GroupedConv2D(24, 3, dilation_rate=2, groups=4, padding="valid", name="g")(keras.Input((4, 9, 8)))
    GroupedConv2D(24, 3, dilation_rate=2, groups=4, padding="same")(keras.Input((4, 9, 8)))


def test_grouped_conv_config_round_trip_and_keras_file(tmp_path):
    layer = GroupedConv2D(24, 3, strides=2, groups=3, padding="same", use_bias=False,
                          implementation="split", name="g")
    config = layer.get_config()
    assert {"filters": 24, "kernel_size": (3, 3), "strides": (2, 2), "groups": 3,
            "implementation": "split", "use_bias": False}.items() <= config.items()
    assert GroupedConv2D.from_config(config).get_config() == config

    inputs = keras.Input((None, None, 12))
    x = GroupedConv2D(24, 3, groups=3, padding="same", name="g")(inputs)
    model = keras.Model(inputs, ChannelShuffle(3, name="shuffle")(x))
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(restored.get_layer("g"), GroupedConv2D)
    assert isinstance(restored.get_layer("g"), keras.layers.Conv2D)
    assert restored.get_layer("shuffle").groups == 3
    x = RNG.random((2, 6, 6, 12), dtype="float32")
    np.testing.assert_allclose(restored(x), model(x), rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_layers_run_on_jax_backend():
    """The keras.ops implementations must run on other backends too (fresh process: backend is global)."""
    pytest.importorskip("jax")
    script = textwrap.dedent("""
        import keras, numpy as np
        from zoo.layers import ChannelShuffle, GroupedConv2D
        assert keras.backend.backend() == "jax"
        x = np.random.default_rng(0).random((2, 7, 7, 12), dtype="float32")
        for kernel in (1, 3):
            ref = keras.layers.Conv2D(12, kernel, groups=3, padding="same")
            want = np.asarray(ref(x))
            for impl in ("auto", "native", "split") + (("matmul",) if kernel == 1 else ()):
                layer = GroupedConv2D(12, kernel, groups=3, padding="same", implementation=impl)
                layer.build(x.shape)
                layer.set_weights(ref.get_weights())
                np.testing.assert_allclose(np.asarray(layer(x)), want, rtol=1e-4, atol=1e-4)
        y = np.asarray(ChannelShuffle(3)(np.arange(12, dtype="float32").reshape(1, 1, 1, 12)))
        assert y.ravel().tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
        print("ok")
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
