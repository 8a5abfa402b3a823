"""zoo convert-weights: torchvision / timm checkpoints give the source library's outputs.

Each architecture is randomly initialised in .venv-torch (weights=None, random BN statistics),
its state_dict saved as .pth, converted by ``zoo convert-weights`` into a temporary
KERAS_HOME, then built with ``zoo.build(..., weights=tag)`` here; the logits must equal the
ones torch computed (tests/torch_reference.py) within 1e-4. PyTorch never loads in this
process: the reference script and convert-weights' reader run in .venv-torch's python.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.weights import CHECKPOINTS
from zoo.weights.convert import convert, convert_many
from zoo.weights.load import full_config, select

ROOT = Path(__file__).resolve().parents[1]
TORCH_PYTHON = ROOT / ".venv-torch" / "bin" / "python"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not TORCH_PYTHON.exists(), reason="PyTorch env .venv-torch not found: run scripts/setup-torch-env")]

TORCH = [c for c in CHECKPOINTS if c.layout == "torch"]
ARCHS = {c.torch_arch: c for c in TORCH}  # one random checkpoint per architecture (both MobileNetV2 tags share it)
TOLERANCE = 1e-4


def _run(model, x):
    """One eager forward pass in inference mode (``predict`` would trace a graph first)."""
    return np.asarray(model(x, training=False))


def _close(ours, reference):
    scale = max(1.0, float(np.abs(reference).max()))
    assert np.abs(ours - reference).max() <= TOLERANCE * scale, np.abs(ours - reference).max()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Reference outputs, and every torch checkpoint converted into one temporary KERAS_HOME."""
    out = tmp_path_factory.mktemp("torch")
    specs = [f"{c.torch_lib}:{arch}:{c.preprocessing}" for arch, c in ARCHS.items()]
    subprocess.run([str(TORCH_PYTHON), str(ROOT / "tests" / "torch_reference.py"), str(out), *specs],
                   check=True, cwd=out, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_HOME", str(out / "keras"))
        results = convert_many([(c.name, c.tag, out / f"{c.torch_arch}.pth") for c in TORCH],
                               torch_python=str(TORCH_PYTHON))  # one torch process for all
    reports = {c.id: r for c, r in zip(TORCH, results)}
    assert not [r for r in results if isinstance(r, Exception)], results
    return out, np.load(out / "reference.npz"), json.loads((out / "facts.json").read_text()), reports


@pytest.fixture
def keras_home(converted, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(converted[0] / "keras"))


@pytest.mark.parametrize("ckpt", TORCH, ids=lambda c: c.id)
def test_converted_checkpoint_gives_torch_outputs(converted, keras_home, ckpt):
    _, ref, _, reports = converted
    assert reports[ckpt.id].max_abs_diff is not None  # convert-weights checked it against torch too
    model = zoo.build(ckpt.name, **ckpt.knobs, weights=ckpt.tag, include_preprocessing=True,
                      classifier_activation="linear")
    _close(_run(model, ref["images"]), ref[f"{ckpt.torch_arch}/logits"])


@pytest.mark.parametrize("name, tag", [("shufflenet_v2_x1_0", "imagenet"), ("mobilenet", "timm")])
def test_backbone_at_another_size_gives_torch_features(converted, keras_home, name, tag):
    _, ref, _, _ = converted
    ckpt = select(name, full_config(name, {}), tag)
    model = zoo.build(name, weights=tag, include_top=False, pooling="avg", input_shape=(160, 160, 3),
                      include_preprocessing=True)
    _close(_run(model, ref["small"]), ref[f"{ckpt.torch_arch}/features160"])


def test_converted_file_and_saved_model_as_weights_path(converted, keras_home, tmp_path):
    """weights=PATH with the converted .weights.h5 (its metadata says torch layout) or a saved .keras."""
    _, ref, _, reports = converted
    path = reports["squeezenet1_1.torchvision"].path
    model = zoo.build("squeezenet1_1", weights=path, include_preprocessing=True, classifier_activation="linear")
    _close(_run(model, ref["images"]), ref["squeezenet1_1/logits"])
    shufflenet = zoo.build("shufflenet_v2_x0_5", weights="imagenet", classifier_activation="linear")
    shufflenet.save(tmp_path / "s.keras")
    again = zoo.build("shufflenet_v2_x0_5", weights=tmp_path / "s.keras", include_preprocessing="torch",
                      classifier_activation="linear")
    _close(_run(again, ref["images"]), ref["shufflenet_v2_x0_5/logits"])


def test_wrong_architecture_checkpoint_is_refused(converted, tmp_path):
    out = converted[0]
    wrong = [("shufflenet_v2_x1_0", None, out / "shufflenet_v2_x0_5.pth"), ("mobilenet", "timm", out / "mobilenet_v2.pth")]
    checked, unchecked = (convert_many(wrong, verify=verify, torch_python=str(TORCH_PYTHON)) for verify in (True, False))
    assert "size mismatch" in str(checked[0]) and "Missing key" in str(checked[1])  # torch's strict load
    assert "(from torch) !=" in str(unchecked[0])  # without torch's check: our shape check
    assert "checkpoint modules with no zoo layer" in str(unchecked[1])
    with pytest.raises(ValueError, match="no torch checkpoint tagged 'keras'"):
        convert("mobilenet", "keras", checkpoint=out / "mobilenet_v2.pth")


def test_zoo_command_of_the_torch_env(converted, tmp_path, monkeypatch, capsys):
    """The documented command: .venv-torch/bin/zoo convert-weights NAME --from FILE; then --list."""
    zoo_cmd = ROOT / ".venv-torch" / "bin" / "zoo"
    if not zoo_cmd.exists():
        pytest.skip(".venv-torch/bin/zoo missing: rerun scripts/setup-torch-env")
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(zoo_cmd), "convert-weights", "squeezenet1_0", "--from",
                           str(converted[0] / "squeezenet1_0.pth")], capture_output=True, text=True, env=env, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote" in done.stdout and (tmp_path / "keras/models/zoo/squeezenet1_0.torchvision.weights.h5").is_file()
    from zoo.cli import main

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert main(["convert-weights", "--list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert any(line.startswith("squeezenet1_0 ") and line.endswith("[converted]") for line in listing)
    assert any(line.startswith("squeezenet1_1 ") and line.endswith("[not converted]") for line in listing)


def test_table_matches_what_torchvision_and_timm_state(converted):
    facts = converted[2]
    for c in TORCH:
        fact = facts[c.source_id]
        if c.source == "torchvision":
            assert (c.url, c.top1[224], c.resize, c.preprocessing) == (fact["url"], fact["acc@1"], fact["resize"], "torch")
            assert fact["crop"] == 224 and fact["classes"] == 1000
            assert tuple(fact["mean"]) == (0.485, 0.456, 0.406) and tuple(fact["std"]) == (0.229, 0.224, 0.225)
        else:
            assert tuple(fact["mean"]) == tuple(fact["std"]) == (0.5, 0.5, 0.5) and c.preprocessing == "tf"
            assert fact["license"] == "apache-2.0" and fact["input_size"] == [3, 224, 224]
