"""Suite files: every mistake is reported by name and file before anything trains."""

from pathlib import Path

import pytest

from zoo.bench.spec import expand_grid, format_config, load_suite, validate_models
from zoo.registry import get_spec

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

BASE = """
name = "t"
description = "test suite"
[dataset]
name = "cifar10"
image_size = 32
subset = { per_class = 2 }
[recipe]
epochs = 1
[run]
seeds = [0, 1]
[[models]]
name = "shufflenet"
width = 0.25
grid = { groups = [1, 3, 8], shuffle = [true, false] }
[[models]]
name = "resnet20"
width = 0.25
"""


def write(tmp_path, text, name="suite.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def base(tmp_path):
    return load_suite(write(tmp_path, BASE))


@pytest.mark.parametrize("suite", sorted(p.stem for p in BENCHMARKS.glob("*.toml")))
def test_shipped_suites_load(suite):
    """Every shipped suite loads in a fresh clone (a fine-tuning suite's weights file is committed)."""
    spec = load_suite(BENCHMARKS / f"{suite}.toml")
    assert spec.name == suite and spec.description
    assert spec.configurations()


def test_shipped_suite_by_name():
    assert load_suite("quick").path.resolve() == (BENCHMARKS / "quick.toml").resolve()


def test_quick_suite_covers_three_families():
    spec = load_suite(BENCHMARKS / "quick.toml")
    assert len({get_spec(m["name"]).family for m in spec.models}) >= 3


@pytest.mark.parametrize("suite", ["cifar10", "tiny-imagenet-10"])
def test_published_suites_cover_every_family(suite):
    """The published tables promise the whole zoo: a family added to the registry must be added here."""
    from zoo.registry import list_models

    spec = load_suite(BENCHMARKS / f"{suite}.toml")
    covered = {get_spec(m["name"]).family for m in spec.models}
    assert covered == {get_spec(name).family for name in list_models()}


def test_grid_expansion_counts_and_order(base):
    runs = base.configurations()
    assert len(runs) == (3 * 2 + 1) * 2  # (shufflenet grid + resnet20) x 2 seeds
    # Seeds outermost; in a grid the last key varies fastest; fixed knobs come first.
    first = runs[:7]
    assert [r.seed for r in runs] == [0] * 7 + [1] * 7
    assert [(r.knobs["groups"], r.knobs["shuffle"]) for r in first[:6]] == [
        (1, True), (1, False), (3, True), (3, False), (8, True), (8, False)]
    assert first[0].config == "width=0.25;groups=1;shuffle=true"
    assert first[6].model == "resnet20" and dict(first[6].knobs) == {"width": 0.25}
    assert len({r.run_id for r in runs}) == len(runs)


def test_run_ids_are_stable_and_depend_on_recipe(tmp_path, base):
    again = load_suite(write(tmp_path, BASE, "again.toml"))
    assert [r.run_id for r in again.configurations()] == [r.run_id for r in base.configurations()]
    changed = load_suite(write(tmp_path, BASE.replace("epochs = 1", "epochs = 2"), "changed.toml"))
    assert not {r.run_id for r in changed.configurations()} & {r.run_id for r in base.configurations()}
    assert changed.fingerprint != base.fingerprint


def test_only_filters_models(base):
    assert {r.model for r in base.configurations(only="res*")} == {"resnet20"}
    assert base.configurations(only="nothing*") == []


def test_expand_grid_without_grid():
    assert expand_grid({"name": "mobilenet", "width": 0.5}) == [{"width": 0.5}]
    assert format_config({"conv": "separable", "width": 0.5}) == 'conv="separable";width=0.5'


@pytest.mark.parametrize("edit, names", [
    (("description", 'colour = "red"\ndescription'), ["'colour'", "top level", "allowed: name"]),
    (("image_size = 32", "image_size = 32\nsplit = 'x'"), ["'split'", "[dataset]", "train_split"]),
    (("seeds = [0, 1]", "seeds = [0, 1]\nrepeats = 3"), ["'repeats'", "[run]", "seeds"]),
    (("width = 0.25\ngrid", "width = 0.25\nwidht = 1\ngrid"), ["unknown knob 'widht'", "shufflenet", "groups"]),
    (("grid = { groups", "grid = { grops"), ["unknown knob 'grops'", "allowed:"]),
])
def test_unknown_keys_name_key_and_file(tmp_path, edit, names):
    path = write(tmp_path, BASE.replace(*edit, 1))
    with pytest.raises(ValueError) as err:
        load_suite(path)
    for text in names + [str(path)]:
        assert text in str(err.value)


def test_unknown_model_names_it_and_the_choices(tmp_path):
    path = write(tmp_path, BASE.replace('name = "resnet20"', 'name = "resnet21"'))
    with pytest.raises(ValueError, match=r"Unknown model 'resnet21'.*resnet20") as err:
        load_suite(path)
    assert str(path) in str(err.value) and "Available:" in str(err.value)


@pytest.mark.parametrize("edit, message", [
    (("seeds = [0, 1]", "seeds = []"), "seeds"),
    (("seeds = [0, 1]", "seeds = [0, 0]"), "seeds"),
    (("seeds = [0, 1]", 'seeds = ["a"]'), "seeds"),
    (("image_size = 32", "image_size = 0"), "image_size"),
    (("image_size = 32", ""), "needs 'image_size'"),
    (('name = "t"', 'name = ""'), "invalid name"),
    (("shuffle = [true, false]", "shuffle = true"), "invalid grid shuffle"),
    (("shuffle = [true, false]", "shuffle = []"), "invalid grid shuffle"),
    (("shuffle = [true, false]", "shuffle = [true, true]"), "repeats a value"),
    (("width = 0.25\ngrid", "groups = 3\ngrid"), "both fixed and in grid"),
    (("width = 0.25\ngrid", "input_shape = [8, 8, 3]\ngrid"), "set by the runner"),
    (("[run]", "[run]\nlatency = 1"), "latency"),
    (("[run]", "[run]\nthroughput_batch = 0"), "throughput_batch"),
    (("[dataset]", "[dataset]\non_bad_image = 'ignore'"), "on_bad_image"),
    (("subset = { per_class = 2 }", "subset = 2"), "subset"),
    (("[[models]]", "models_note = 1\n[[models]]"), "unknown key"),
])
def test_bad_values_are_rejected(tmp_path, edit, message):
    path = write(tmp_path, BASE.replace(*edit, 1))
    with pytest.raises(ValueError, match=message):
        load_suite(path)


def test_missing_file_and_broken_toml(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*shipped suite name: .*quick"):
        load_suite(tmp_path / "nope.toml")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_suite(write(tmp_path, "name = \n"))
    with pytest.raises(ValueError, match=r"\[\[models\]\]"):
        load_suite(write(tmp_path, BASE.split("[[models]]")[0]))


@pytest.mark.parametrize("edit, message", [
    (("groups = [1, 3, 8]", "groups = [1, 5]"), r"shufflenet\(width=0.25;groups=5;shuffle=true\).*groups=5"),
    (('name = "resnet20"\nwidth = 0.25', 'name = "resnet20"\nwidth = -1.0'), r"resnet20\(width=-1.0\).*width"),
])
def test_builder_checks_every_configuration(tmp_path, edit, message):
    """Values the structure check cannot judge are caught by building each configuration."""
    suite = load_suite(write(tmp_path, BASE.replace(*edit, 1)))
    with pytest.raises(ValueError, match=message) as err:
        validate_models(suite, num_classes=10, analyze=False)
    assert str(suite.path) in str(err.value)


def test_validate_models_returns_costs(base):
    costs = validate_models(base, num_classes=10, configs=base.configurations(only="resnet20"))
    (key, cost), = costs.items()
    assert key == ("resnet20", "width=0.25") and cost["params"] > 0 and cost["macs"] > cost["params"]


def test_array_knobs_reach_the_builder_as_tuples(tmp_path):
    text = BASE.split("[[models]]")[0] + '[[models]]\nname = "dilated"\nwidth = 0.25\ndilations = [1, 2]\n'
    suite = load_suite(write(tmp_path, text))
    (cfg,) = suite.configurations()[:1]
    assert cfg.config == "width=0.25;dilations=[1,2]"
    (cost,) = validate_models(suite, num_classes=10, configs=[cfg]).values()
    assert cost["params"] > 0
