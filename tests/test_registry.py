"""The registry: names, knobs, errors before any layer exists, and the ``zoo list`` command."""

import functools
import json

import pytest
import keras

import zoo
from zoo.cli import main as zoo_main
from zoo import registry
from zoo.registry import register


@pytest.fixture
def layer_count(monkeypatch):
    """Counts keras Layer constructions (the real class, only wrapped to count)."""
    calls = []
    original = keras.layers.Layer.__init__

    @functools.wraps(original)
    def counting_init(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.layers.Layer, "__init__", counting_init)
    return calls


def test_layer_counter_sees_layers(layer_count):
    zoo.build("resnet20", width=0.25)
    assert "InputLayer" in layer_count and "Conv2D" in layer_count


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Unknown model 'mobilenet_v3'.*Did you mean: .*mobilenet_v2"):
        zoo.build("mobilenet_v3")
    with pytest.raises(ValueError, match="resnet20"):
        zoo.get_spec("resnet21")


def test_unknown_keyword_lists_valid_ones():
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) 'alpha'.*Valid keywords: width, depth_multiplier"):
        zoo.build("mobilenet", alpha=0.5)


INVALID = [
    ("convnet", {"conv": "grouped", "groups": 3}, "groups=3.*divisor"),
    ("convnet", {"conv": "grouped", "groups": 64, "width": 0.5}, "groups=64"),
    ("convnet", {"conv": "pointwise", "reduction": 0}, "reduction=0"),
    ("convnet", {"conv": "winograd"}, "conv='winograd'.*standard"),
    ("mobilenet", {"width": 0}, "width=0; allowed: a number > 0"),
    ("mobilenet", {"width": -0.5}, "width=-0.5"),
    ("mobilenet", {"depth_multiplier": 1.5}, "depth_multiplier"),
    ("mobilenet", {"output_stride": 4}, "output_stride=4.*8, 16, 32"),
    ("mobilenet", {"input_shape": (16, 16, 3), "small_input": False}, r"input_shape=\(16, 16, 3\).*>= 32"),
    ("mobilenet", {"pooling": "sum"}, "pooling='sum'"),
    ("mobilenet", {"num_classes": 0}, "num_classes=0"),
    ("mobilenet_v2", {"expansion": 0.5}, "expansion=0.5"),
    ("mobilenet_v2", {"input_shape": (224, 224)}, "input_shape"),
    ("xception", {"input_shape": (4, 4, 3)}, r"input_shape=\(4, 4, 3\).*>= 5"),
    ("xception", {"input_shape": (6, 6, 3), "small_input": False}, ">= 7"),
    ("xception", {"middle_blocks": -1}, "middle_blocks=-1"),
    ("resnet", {"depth": 21}, "depth=21.*6n\\+2"),
    ("resnet20", {"dropout": 1.0}, "dropout=1.0"),
    ("resnet20", {"input_shape": (2, 2, 3)}, ">= 4"),
    ("xception", {"small_input": "yes"}, "small_input='yes'"),
]


@pytest.mark.parametrize("name, knobs, message", INVALID, ids=[f"{n}-{'-'.join(k)}" for n, k, _ in INVALID])
def test_invalid_value_raises_before_any_layer(name, knobs, message, layer_count):
    with pytest.raises(ValueError, match=message):
        zoo.build(name, **knobs)
    assert layer_count == [], f"layers were built before the error: {layer_count[:5]}"


WIDTH_MODELS = [n for n in zoo.list_models() if "width" in zoo.model_knobs(n)]


@pytest.mark.parametrize("name", WIDTH_MODELS)
def test_every_width_knob_rejects_zero_before_building(name, layer_count):
    with pytest.raises(ValueError, match="width"):
        zoo.build(name, width=0)
    assert layer_count == []


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_model_rejects_bad_pooling_before_building(name, layer_count):
    with pytest.raises(ValueError, match="pooling"):
        zoo.build(name, include_top=False, pooling="sum")
    assert layer_count == []


def test_list_models_wildcards_and_natural_order(monkeypatch):
    names = zoo.list_models()
    assert {"mobilenet", "mobilenet_v2", "xception", "resnet20", "convnet"} <= set(names)
    assert zoo.list_models("resnet*") == ["resnet", "resnet20", "resnet32", "resnet56"]
    # Natural, not lexicographic, order: registered into a throw-away copy of the registry.
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register("zz_net", variants={"zz_net10": {}, "zz_net2": {}})(lambda *, name="zz": None)
    assert zoo.list_models("zz_net*") == ["zz_net", "zz_net2", "zz_net10"]
    assert all(n.startswith("mobilenet_v2") for n in zoo.list_models("mobilenet_v2*"))
    assert "mobilenet_v2" not in zoo.list_models("mobilenet*", exclude="mobilenet_v2*")
    assert zoo.list_models("no_such_model*") == []


def test_model_knobs_show_defaults_and_allowed():
    knobs = zoo.model_knobs("resnet56")
    assert knobs["depth"].default == 56  # fixed by the variant
    assert knobs["num_classes"].default == 10  # the CIFAR family's own default
    assert "6n+2" in knobs["depth"].allowed
    conv = zoo.model_knobs("mobilenet")["conv"]
    assert conv.default == "separable" and conv.choices == ("separable", "standard")
    assert zoo.model_knobs("mobilenet")["input_shape"].default == (224, 224, 3)
    assert zoo.model_knobs("xception")["input_shape"].default == (299, 299, 3)


def test_none_falls_back_to_default():
    assert zoo.build("resnet20", width=None).count_params() == zoo.build("resnet20").count_params()


def test_variants_fix_knobs():
    assert zoo.build("mobilenet_conv", input_shape=(32, 32, 3)).get_layer("stage2_unit0_conv_conv")
    assert zoo.get_spec("mobilenet_w050").family == "mobilenet"


def test_register_rejects_duplicates_and_undocumented_knobs():
    def builder(*, foo=1, name="x"):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="already registered"):
        register("mobilenet", knobs={"foo": "anything"})(builder)
    with pytest.raises(TypeError, match="'foo' has no 'allowed' rule"):
        register("zoo_test_unregistered")(builder)
    assert "zoo_test_unregistered" not in zoo.list_models()


def test_cli_list(capsys):
    assert zoo_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v2" in out and "resnet20" in out and "common knobs" in out


def test_cli_list_knobs(capsys):
    assert zoo_main(["list", "resnet2*", "--knobs"]) == 0
    out = capsys.readouterr().out
    assert "resnet20" in out and "depth=20" in out and "6n+2" in out
    assert "mobilenet" not in out


def test_cli_list_no_match_is_a_clear_error(capsys):
    assert zoo_main(["list", "no_such_model*"]) == 2
    assert "no model matches 'no_such_model*'" in capsys.readouterr().err


# --- one statement per rule: the registry runs them all before the builder -------------------


def _numeric_knobs(name):
    return [k for k, knob in zoo.model_knobs(name).items()
            if isinstance(knob.default, (int, float)) and not isinstance(knob.default, bool)]


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_numeric_knob_refuses_inf_and_nan(name, layer_count):
    """inf used to reach round_channels (OverflowError) or a layer; now the standard message."""
    for knob in _numeric_knobs(name):
        for bad in (float("inf"), float("-inf"), float("nan")):
            with pytest.raises(ValueError, match=rf"{name}: invalid {knob}={bad!r}; allowed: .*finite"):
                zoo.build(name, **{knob: bad})
    assert layer_count == []


def test_non_finite_inside_a_tuple_knob(layer_count):
    with pytest.raises(ValueError, match="invalid dilations=.*finite"):
        zoo.build("dilated", dilations=(1, float("nan")))
    assert layer_count == []


def test_knob_rules_come_from_registration():
    """A rule is a (check, text) pair or a list of choices; a bare text has no check and is refused."""
    width = zoo.model_knobs("mobilenet")["width"]
    assert width.check is not None and width.accepts(0.5) and not width.accepts(0)
    assert width.allowed.startswith("a number > 0")
    with pytest.raises(TypeError, match="a rule is a \\(check, 'allowed text'\\) pair"):
        register("zoo_test_bare_rule", knobs={"foo": "anything"})(lambda *, foo=1, name="x": None)
    assert "zoo_test_bare_rule" not in zoo.list_models()


def test_choices_do_not_take_bools_for_numbers(layer_count):
    """True == 1 in Python; groups=True used to build a 1-group AlexNet."""
    with pytest.raises(ValueError, match=r"groups=True; allowed: one of \[1, 2, 4"):
        zoo.build("alexnet", groups=True)
    with pytest.raises(ValueError, match="include_top=1"):
        zoo.build("resnet20", include_top=1)
    assert layer_count == []


def test_calling_a_builder_directly_runs_the_same_checks(layer_count):
    from zoo.models.mobilenet import mobilenet

    with pytest.raises(ValueError, match="mobilenet: invalid width=0; allowed: a number > 0"):
        mobilenet(width=0)
    assert layer_count == []


def test_small_input_stride_plan_is_one_rule():
    from zoo.common import small_input_strides

    assert small_input_strides([2, 1, 2, 2, 2], True) == [1, 1, 1, 2, 2]  # the first two stride-2 layers
    assert small_input_strides([2, 1, 2, 2, 2], False) == [2, 1, 2, 2, 2]
    assert small_input_strides([4, 2, 2], True, count=1) == [1, 2, 2]


# --- classifier head: activation and class count ----------------------------------------------


def test_unknown_classifier_activation_fails_in_the_registry(layer_count):
    with pytest.raises(ValueError, match=r"classifier_activation='softmaxx'; allowed: None or a Keras "
                                         r"activation name, e.g. 'softmax', 'sigmoid', 'linear'"):
        zoo.build("mobilenet", classifier_activation="softmaxx")
    assert layer_count == []
    assert registry.check_knobs("resnet20", {"classifier_activation": "linear"})["classifier_activation"] == "linear"


def test_one_class_softmax_is_refused_and_sigmoid_allowed(layer_count):
    """A 1-unit softmax outputs 1.0 for every input; one sigmoid unit is a real binary classifier."""
    with pytest.raises(ValueError, match=r"num_classes=1; .*use num_classes=2.*classifier_activation='sigmoid'"):
        zoo.build("resnet20", num_classes=1)
    assert layer_count == []
    registry.check_knobs("resnet20", {"num_classes": 1, "include_top": False})  # no head, no problem
    model = zoo.build("resnet20", width=0.25, num_classes=1, classifier_activation="sigmoid")
    y = keras.ops.convert_to_numpy(model(keras.random.normal((2, 32, 32, 3)), training=False))
    assert y.shape == (2, 1) and ((0 < y) & (y < 1)).all()


# --- the input size each family needs -----------------------------------------------------------


def test_min_input_size_is_declared_and_asked_for():
    assert registry.min_input_size("mobilenet") == 32
    assert registry.min_input_size("mobilenet", {"input_shape": (32, 32, 3)}) == 8  # small_input auto
    assert registry.min_input_size("mobilenet", {"output_stride": 16}) == 16
    assert registry.min_input_size("xception") == 7 and registry.min_input_size("xception", {"small_input": True}) == 5
    assert registry.min_input_size("resnet20") == 4
    assert registry.min_input_size("alexnet") == 63


FAMILY_SMALL = {  # narrow settings so the builds at the minimum size stay quick
    "alexnet": {"fc_units": 8}, "convnet": {"width": 0.25}, "dilated": {"width": 0.25},
    "mobilenet": {"width": 0.25}, "mobilenet_v2": {"width": 0.35}, "resnet": {"width": 0.25},
    "shufflenet": {"width": 0.25}, "shufflenet_v2": {"width": 0.5}, "squeezenet": {"version": "1.1"},
    "xception": {"width": 0.25, "middle_blocks": 0},
}


@pytest.mark.parametrize("family", sorted({zoo.get_spec(n).family for n in zoo.list_models()}))
def test_min_input_size_builds_and_one_less_is_refused(family, layer_count):
    knobs = {**FAMILY_SMALL.get(family, {}), "small_input": False, "num_classes": 3}
    side = registry.min_input_size(family, knobs)
    with pytest.raises(ValueError, match=rf"input_shape=\({side - 1}, {side - 1}, 3\).*>= {side} "):
        zoo.build(family, input_shape=(side - 1, side - 1, 3), **knobs)
    assert layer_count == []
    model = zoo.build(family, input_shape=(side, side, 3), **knobs)
    assert model.output_shape == (None, 3)


def test_summary_refuses_an_input_shape_the_network_cannot_take(capsys):
    assert zoo_main(["summary", "shufflenet", "--input-shape", "2,2,3"]) == 2
    err = capsys.readouterr().err
    assert "shufflenet: invalid input_shape=(2, 2, 3); allowed: height and width >= 32" in err
    assert "Traceback" not in err
    # the architecture is the one --set builds: a small-input network takes 8x8
    assert zoo_main(["summary", "shufflenet", "--set", "input_shape=[32,32,3]", "--input-shape", "4,4,3"]) == 2
    assert ">= 8" in capsys.readouterr().err
    assert zoo_main(["summary", "resnet20", "--set", "width=0.25", "--input-shape", "8,8,3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["input_shape"] == [8, 8, 3]


# --- the size cap ---------------------------------------------------------------------------------


def test_size_cap_refuses_huge_widths_before_any_layer(layer_count):
    """width=1000 used to try a 73 GB kernel; 1e308 overflowed the channel arithmetic."""
    with pytest.raises(ValueError, match=r"mobilenet: \{'width': 1000\} would have about [\d,]+ parameters, "
                                         r"over the size cap of 500,000,000 .*ZOO_MAX_PARAMS"):
        zoo.build("mobilenet", width=1000)
    with pytest.raises(ValueError, match="too many parameters to count.*ZOO_MAX_PARAMS=0"):
        zoo.build("mobilenet", width=1e308)
    with pytest.raises(ValueError, match="size cap"):
        zoo.build("resnet", depth=6 * 10**7 + 2)
    with pytest.raises(ValueError, match="size cap"):
        zoo.build("alexnet", input_shape=(4096, 4096, 3))  # fc6 grows with the input
    assert layer_count == []


def test_size_cap_is_set_by_the_environment(monkeypatch):
    monkeypatch.setenv("ZOO_MAX_PARAMS", "100_000")
    with pytest.raises(ValueError, match="size cap of 100,000"):
        registry.check_knobs("resnet20", {})  # 271k parameters
    monkeypatch.setenv("ZOO_MAX_PARAMS", "0")
    registry.check_knobs("mobilenet", {"width": 1000})  # no cap
    monkeypatch.setenv("ZOO_MAX_PARAMS", "lots")
    with pytest.raises(ValueError, match="invalid ZOO_MAX_PARAMS='lots'"):
        registry.check_knobs("resnet20", {})


@pytest.mark.parametrize("name, knobs", [
    ("xception", {}), ("shufflenet_v2_x2_0", {}), ("alexnet", {"groups": 1}), ("mobilenet_v2_w140", {}),
    ("mobilenet_conv", {}), ("resnet", {"depth": 1202}),
])
def test_size_cap_keeps_the_largest_models_in_use(name, knobs):
    knobs = registry.check_knobs(name, knobs)
    assert registry.estimate_params(name, knobs) < registry.MAX_PARAMS
