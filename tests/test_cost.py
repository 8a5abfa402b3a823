"""The cost model against hand arithmetic: one tiny model per rule, formulas written out.

M = input channels, N = output channels, K = kernel size, X×Y = output positions.
"""

import json

import keras
import pytest
from keras import layers

from zoo.cost import analyze, human
from zoo.layers import ChannelShuffle, GroupedConv2D


def one_layer(layer, input_shape):
    """A functional model of a single layer; returns (model, report row of that layer)."""
    x = keras.Input(input_shape)
    model = keras.Model(x, layer(x))
    report = analyze(model)
    rows = [r for r in report.rows if r.name == layer.name]
    assert len(rows) == 1
    return model, report, rows[0]


# --- convolutions: the survey's formulas ---------------------------------------------------


def test_standard_conv_same_stride1():
    M, N, K, X, Y = 3, 4, 3, 8, 8
    model, report, row = one_layer(layers.Conv2D(N, K, padding="same"), (X, Y, M))
    assert row.macs == M * X * Y * K * K * N
    assert row.params == N * (M * K * K + 1) == model.count_params()
    assert row.output_shape == (X, Y, N)
    assert row.input_shapes == [(X, Y, M)]
    assert row.receptive_field == (3, 3) and row.jump == (1, 1)
    assert row.activations == X * Y * N
    assert report.flops == 2 * report.macs


@pytest.mark.parametrize("padding, out_side", [("same", 5), ("valid", 4)])
def test_conv_stride2_padding(padding, out_side):
    M, N, K = 2, 3, 3  # 9×9 input: same -> ceil(9/2) = 5, valid -> floor((9-3)/2)+1 = 4
    _, _, row = one_layer(layers.Conv2D(N, K, strides=2, padding=padding, use_bias=False), (9, 9, M))
    assert row.output_shape == (out_side, out_side, N)
    assert row.macs == out_side * out_side * K * K * M * N
    assert row.params == K * K * M * N
    assert row.receptive_field == (3, 3) and row.jump == (2, 2)


def test_dilated_conv():
    # K=3, d=2 acts as a 5×5 kernel: valid 9×9 -> 5×5, receptive field 5
    _, _, row = one_layer(layers.Conv2D(4, 3, dilation_rate=2, padding="valid"), (9, 9, 2))
    assert row.output_shape == (5, 5, 4)
    assert row.macs == 5 * 5 * 3 * 3 * 2 * 4
    assert row.receptive_field == (5, 5) and row.jump == (1, 1)


def test_rectangular_kernel_per_axis():
    _, _, row = one_layer(layers.Conv2D(1, (1, 7), strides=(1, 2), padding="same"), (8, 8, 1))
    assert row.receptive_field == (1, 7) and row.jump == (1, 2)
    assert row.macs == 8 * 4 * 7


@pytest.mark.parametrize("conv_cls", [layers.Conv2D, GroupedConv2D])
def test_grouped_conv(conv_cls):
    M, N, K, g, X = 6, 9, 3, 3, 5
    _, _, row = one_layer(conv_cls(N, K, groups=g, padding="same"), (X, X, M))
    assert row.macs == X * X * K * K * (M // g) * N
    assert row.params == K * K * (M // g) * N + N


def test_pointwise_conv():
    M, N, X, Y = 8, 16, 6, 4
    _, _, row = one_layer(layers.Conv2D(N, 1), (X, Y, M))
    assert row.macs == M * X * Y * N
    assert row.params == N * (M + 1)
    assert row.receptive_field == (1, 1)


def test_depthwise_conv_depth_multiplier():
    C, m, K, X = 4, 2, 3, 6
    _, _, row = one_layer(layers.DepthwiseConv2D(K, depth_multiplier=m, padding="same"), (X, X, C))
    assert row.output_shape == (X, X, C * m)
    assert row.macs == X * X * C * m * K * K
    assert row.params == C * m * K * K + C * m


def test_depthwise_separable_two_layers_with_biases():
    C, N, K, H, W = 5, 7, 3, 6, 4
    x = keras.Input((H, W, C))
    y = layers.DepthwiseConv2D(K, padding="same", use_bias=True)(x)
    y = layers.Conv2D(N, 1, use_bias=True)(y)
    model = keras.Model(x, y)
    report = analyze(model)
    assert report.macs == C * H * W * (K * K + N)
    assert report.params == C * K * K + N * C + C + N == model.count_params()
    assert report.receptive_field == (3, 3)


def test_keras_separable_conv_single_bias():
    C, N, K, H, W = 5, 7, 3, 6, 4
    model, report, row = one_layer(layers.SeparableConv2D(N, K, padding="same"), (H, W, C))
    assert row.macs == C * H * W * (K * K + N)
    assert row.params == C * K * K + C * N + N == model.count_params()


def test_separable_conv_stride_and_multiplier():
    C, N, K, m = 3, 4, 3, 2  # 8×8 stride 2 same -> 4×4; depthwise gives C·m maps
    _, _, row = one_layer(layers.SeparableConv2D(N, K, strides=2, depth_multiplier=m, padding="same",
                                                 use_bias=False), (8, 8, C))
    assert row.macs == 4 * 4 * C * m * (K * K + N)
    assert row.jump == (2, 2)


def test_conv1d():
    _, _, row = one_layer(layers.Conv1D(4, 5, strides=2, padding="valid"), (21, 3))
    assert row.output_shape == (9, 4)
    assert row.macs == 9 * 4 * 5 * 3
    assert row.receptive_field == (5,) and row.jump == (2,)


# --- dense, normalization, free layers --------------------------------------------------------


def test_dense_on_vector_and_on_feature_map():
    _, _, row = one_layer(layers.Dense(10), (32,))
    assert row.macs == 32 * 10 and row.params == 32 * 10 + 10
    _, report, row = one_layer(layers.Dense(10), (4, 4, 32))  # applied at each of the 16 positions
    assert row.macs == 4 * 4 * 32 * 10
    assert row.receptive_field == (1, 1)


def test_batchnorm_params_counted_macs_folded():
    C = 6
    x = keras.Input((5, 5, 3))
    y = layers.Conv2D(C, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization(name="bn")(y)
    model = keras.Model(x, y)
    report = analyze(model)
    bn = next(r for r in report.rows if r.name == "bn")
    assert bn.macs == 0 and bn.params == 4 * C and bn.trainable_params == 2 * C
    assert report.params == model.count_params()
    assert report.trainable_params == sum(w.numpy().size for w in model.trainable_weights)
    assert report.non_trainable_params == 2 * C


def test_pooling_free_and_widens_field():
    x = keras.Input((16, 16, 2))
    y = layers.MaxPooling2D(2)(x)  # rf 2, jump 2
    y = layers.Conv2D(3, 3, padding="same", name="conv")(y)  # rf 2 + 2·2 = 6
    y = layers.AveragePooling2D(3, strides=1, padding="same", name="avg")(y)  # rf 6 + 2·2 = 10
    report = analyze(keras.Model(x, y))
    conv = next(r for r in report.rows if r.name == "conv")
    assert conv.receptive_field == (6, 6) and conv.jump == (2, 2)
    assert report.receptive_field == (10, 10)
    assert report.macs == conv.macs == 8 * 8 * 9 * 2 * 3


def test_global_pooling_sees_whole_input():
    x = keras.Input((16, 12, 2))
    y = layers.Conv2D(3, 3)(x)
    y = layers.GlobalAveragePooling2D()(y)
    y = layers.Dense(5)(y)
    report = analyze(keras.Model(x, y))
    assert report.receptive_field == (16, 12)
    assert report.macs == 14 * 10 * 9 * 2 * 3 + 3 * 5


def test_free_layers_cost_nothing_and_keep_field():
    x = keras.Input((6, 6, 4))
    a = layers.Conv2D(4, 3, padding="same", name="conv")(x)
    y = layers.Add()([a, x])
    y = layers.Multiply()([y, a])
    y = layers.Concatenate()([y, a])
    y = ChannelShuffle(2)(y)
    y = layers.Activation("relu")(y)
    y = layers.ReLU(6.0)(y)
    y = layers.Dropout(0.5)(y)
    y = layers.ZeroPadding2D(1)(y)
    y = layers.Rescaling(0.5)(y)
    y = layers.Reshape((8 * 8 * 8,))(y)
    y = layers.Reshape((8, 8, 8))(y)
    y = y + 1.0  # a keras.ops call inside the graph
    model = keras.Model(x, y)
    report = analyze(model)
    conv = next(r for r in report.rows if r.name == "conv")
    assert report.macs == conv.macs == 6 * 6 * 9 * 4 * 4
    assert all(r.macs == 0 for r in report.rows if r.name != "conv")
    assert report.receptive_field == (3, 3)


def test_dilations_1_2_4_8_give_31():  # Yu & Koltun, context module
    x = keras.Input((40, 40, 1))
    y = x
    for d in (1, 2, 4, 8):
        y = layers.Conv2D(1, 3, dilation_rate=d, padding="same")(y)
    assert analyze(keras.Model(x, y)).receptive_field == (31, 31)


# --- graphs: branches, nesting, sharing, Sequential -------------------------------------------


def test_branchy_model_takes_widest_field():
    x = keras.Input((8, 8, 2))
    a = layers.Conv2D(3, 3, padding="same", name="a")(x)
    b = layers.Conv2D(5, 5, padding="same", name="b")(x)
    y = layers.Concatenate(name="cat")([a, b])
    model = keras.Model(x, layers.Conv2D(4, 1, name="mix")(y))
    report = analyze(model)
    assert report.macs == 64 * (9 * 2 * 3 + 25 * 2 * 5 + 8 * 4)
    assert report.receptive_field == (5, 5)
    assert report.params == model.count_params()
    assert [r.name for r in report.rows][0] == model.inputs[0]._keras_history.operation.name


def test_nested_model_rows_prefixed():
    inner_in = keras.Input((8, 8, 3))
    inner = keras.Model(inner_in, layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(inner_in),
                        name="inner")
    x = keras.Input((8, 8, 3))
    y = inner(x)
    y = layers.Conv2D(2, 3, padding="same", name="head")(y)
    model = keras.Model(x, y)
    report = analyze(model)
    names = [r.name for r in report.rows]
    assert "inner/conv" in names and "head" in names
    assert report.macs == 4 * 4 * 9 * 3 * 4 + 4 * 4 * 9 * 4 * 2
    assert report.params == model.count_params()
    assert report.receptive_field == (3 + 2 * 2, 3 + 2 * 2)


def test_sequential_and_input_shape_override():
    model = keras.Sequential([keras.Input((None, None, 3)), layers.Conv2D(4, 3, padding="same"),
                              layers.GlobalAveragePooling2D(), layers.Dense(2)])
    with pytest.raises(ValueError, match="input_shape"):
        analyze(model)
    small, big = analyze(model, input_shape=(8, 8, 3)), analyze(model, (16, 16, 3))
    assert small.macs == 8 * 8 * 9 * 3 * 4 + 4 * 2
    assert big.macs == 16 * 16 * 9 * 3 * 4 + 4 * 2
    assert big.receptive_field == (16, 16) and big.params == small.params == model.count_params()


def test_shared_layer_params_once_macs_per_call():
    conv = layers.Conv2D(2, 3, padding="same", name="shared")
    x = keras.Input((4, 4, 2))
    model = keras.Model(x, conv(conv(x)))
    report = analyze(model)
    calls = [r for r in report.rows if r.name == "shared"]
    assert len(calls) == 2 and [c.params for c in calls] == [conv.count_params(), 0]
    assert report.macs == 2 * 16 * 9 * 2 * 2
    assert report.receptive_field == (5, 5)


def test_frozen_layer_split():
    x = keras.Input((4, 4, 2))
    frozen = layers.Conv2D(3, 1, name="frozen")
    model = keras.Model(x, layers.Conv2D(2, 1)(frozen(x)))
    frozen.trainable = False
    report = analyze(model)
    assert report.non_trainable_params == 3 * 2 + 3
    assert report.trainable_params == 2 * 3 + 2
    assert report.params == model.count_params()


# --- errors ----------------------------------------------------------------------------------


class Scale(layers.Layer):
    """A weighted layer the cost model has no rule for."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],))

    def call(self, x):
        return x * self.w


def test_weighted_layer_without_rule_raises_naming_it():
    x = keras.Input((4, 4, 2))
    model = keras.Model(x, Scale(name="mystery")(x))
    with pytest.raises(ValueError, match=r"'mystery'.*Scale.*2 parameters"):
        analyze(model)


def test_unknown_weightless_layer_raises():
    x = keras.Input((4,))
    model = keras.Model(x, layers.Lambda(lambda t: t * 2, name="hidden")(x))
    with pytest.raises(ValueError, match="'hidden'.*Lambda"):
        analyze(model)


def test_bad_inputs():
    with pytest.raises(ValueError, match="not built"):
        analyze(keras.Sequential([layers.Dense(2)]))
    with pytest.raises(TypeError, match="keras.Model"):
        analyze(layers.Dense(2))
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, layers.Conv2D(2, 3)(x))
    for bad in [(8, 8), (8, -1, 3), "224", (8.0, 8, 3)]:
        with pytest.raises(ValueError, match="input_shape"):
            analyze(model, input_shape=bad)


# --- report output ----------------------------------------------------------------------------


def test_report_serialises_and_prints():
    x = keras.Input((8, 8, 3))
    y = layers.Conv2D(4, 3, name="c1")(x)
    model = keras.Model(x, layers.Conv2D(16, 3, name="c2")(y))
    report = analyze(model)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["totals"]["macs"] == report.macs and data["totals"]["flops"] == 2 * report.macs
    assert data["totals"]["params"] == model.count_params()
    assert [r["name"] for r in data["rows"]][1:] == ["c1", "c2"]
    text = report.format_table()
    assert "FLOPs = 2 × MACs" in text and f"{report.params:,}" in text
    lines = report.format_table(top=1).splitlines()
    assert any(ln.startswith("c2 ") for ln in lines) and not any(ln.startswith("c1 ") for ln in lines)
    assert report.top(1)[0].name == max(report.rows, key=lambda r: r.macs).name
    assert human(4_253_864) == "4.25 M" and human(568_740_352) == "568.7 M" and human(999) == "999"


# --- zoo summary ------------------------------------------------------------------------------


def test_summary_cli_saved_model_and_json(tmp_path, capsys):
    from zoo.cli import main

    x = keras.Input((8, 8, 3))
    y = GroupedConv2D(4, 3, groups=1, padding="same", name="conv")(x)
    y = ChannelShuffle(2, name="shuffle")(y)
    model = keras.Model(x, layers.Dense(2, name="fc")(layers.GlobalAveragePooling2D()(y)), name="tiny")
    path = tmp_path / "tiny.keras"
    model.save(path)
    assert main(["summary", str(path)]) == 0
    text = capsys.readouterr().out
    assert "tiny: input 8×8×3" in text and "FLOPs = 2 × MACs" in text and "shuffle" in text
    assert main(["summary", str(path), "--json", "--top", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["params"] == model.count_params()
    assert data["totals"]["macs"] == analyze(model).macs
    assert [r["name"] for r in data["rows"]] == ["conv"]
    assert main(["summary", str(path), "--input-shape", "16,16,3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["macs"] == 16 * 16 * 27 * 4 + 4 * 2


def test_summary_cli_registry_name(capsys):
    import zoo
    from zoo.cli import main

    if "squeezenet1_1" not in zoo.list_models():
        pytest.skip("model 'squeezenet1_1' is not registered yet")
    assert main(["summary", "squeezenet1_1", "--set", "input_shape=[32,32,3]", "--set", "num_classes=10",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    model = zoo.build("squeezenet1_1", input_shape=(32, 32, 3), num_classes=10)
    assert data["input_shape"] == [32, 32, 3] and data["totals"]["params"] == model.count_params()


def test_summary_cli_bad_input(tmp_path, capsys):
    from zoo.cli import main

    broken = tmp_path / "broken.keras"
    broken.write_text("not a zip")
    assert main(["summary", str(broken)]) == 2
    assert "broken.keras" in capsys.readouterr().err
    assert main(["summary", str(tmp_path / "absent.keras")]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main(["summary", "no_such_model_xyz"]) == 2
    assert "Unknown model" in capsys.readouterr().err
    assert main(["summary", str(broken), "--top", "0"]) == 2
    assert "--top" in capsys.readouterr().err


def test_multi_input_multi_output():
    a, b = keras.Input((8, 8, 3)), keras.Input((4,))
    y = layers.Conv2D(2, 3, name="conv")(a)
    model = keras.Model([a, b], [layers.Flatten()(y), layers.Dense(3, name="fc")(b)])
    report = analyze(model)
    assert report.input_shape == [(8, 8, 3), (4,)]
    assert report.macs == 6 * 6 * 27 * 2 + 4 * 3
    assert report.receptive_field == (3, 3)
    assert analyze(model, input_shape=[(10, 10, 3), (4,)]).macs == 8 * 8 * 27 * 2 + 4 * 3


def test_nested_sequential_and_subclassed_model():
    seq = keras.Sequential([layers.Conv2D(2, 3, name="conv"), layers.BatchNormalization(name="bn")], name="seq")
    seq.build((None, 8, 8, 3))  # built without an Input: Keras still records a graph
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, layers.Dense(2, name="fc")(seq(x)))
    report = analyze(model)
    assert [r.name for r in report.rows][1:] == ["seq/conv", "seq/bn", "fc"]
    assert report.macs == 6 * 6 * 27 * 2 + 6 * 6 * 2 * 2 and report.params == model.count_params()

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.fc = layers.Dense(2)

        def call(self, x):
            return self.fc(x)

    sub = Subclassed()
    sub(keras.ops.ones((1, 3)))
    with pytest.raises(ValueError, match="'sub'.*subclassed.*keras.Input"):
        analyze(sub)


def test_input_shape_that_the_weights_cannot_take():
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, layers.Dense(2, name="fc")(layers.Flatten()(layers.Conv2D(2, 3, name="conv")(x))))
    with pytest.raises(ValueError, match="'fc'"):  # Flatten gives 128 features, fc was built for 72
        analyze(model, input_shape=(10, 10, 3))
    with pytest.raises(ValueError, match="'conv'"):
        analyze(model, input_shape=(8, 8, 4))
