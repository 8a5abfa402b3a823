"""The package as a user meets it: the README example, loading saved models, the CLI entry."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import zoo

ROOT = Path(__file__).resolve().parents[1]


def test_readme_quickstart_runs():
    """The first Python block of the README runs as written."""
    block = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    report = namespace["report"]
    assert report.params == namespace["model"].count_params() and report.macs > 0


def test_saved_model_loads_in_a_fresh_process_after_import_zoo(tmp_path):
    # ShuffleNet v2 uses ChannelShuffle, ChannelSlice and grouped convolutions; ResNet ShortcutA.
    paths = []
    for name, knobs in [("shufflenet_v2_x0_5", {}), ("shufflenet_g3", {"width": 0.25}), ("resnet20", {"width": 0.25})]:
        model = zoo.build(name, input_shape=(32, 32, 3), num_classes=5, **knobs)
        x = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
        path = tmp_path / f"{name}.keras"
        model.save(path)
        np.save(tmp_path / f"{name}_x.npy", x)
        np.save(tmp_path / f"{name}_y.npy", np.asarray(model(x, training=False)))
        paths.append(name)
    script = (
        "import sys, numpy as np, keras, zoo\n"
        "d = sys.argv[1]\n"
        "for name in sys.argv[2:]:\n"
        "    m = keras.saving.load_model(f'{d}/{name}.keras')\n"
        "    y = np.asarray(m(np.load(f'{d}/{name}_x.npy'), training=False))\n"
        "    np.testing.assert_allclose(y, np.load(f'{d}/{name}_y.npy'), atol=1e-5)\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path), *paths],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_cli_help_lists_every_command(capsys):
    import pytest

    from zoo.cli import COMMANDS, main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for command in COMMANDS:
        assert command in help_text


def test_cli_bad_input_is_one_line_not_a_traceback(capsys):
    from zoo.cli import main

    assert main(["summary", "shufflenet", "--set", "groups=5"]) == 2
    err = capsys.readouterr().err
    assert "groups=5" in err and "Traceback" not in err


def test_command_help_does_not_import_tensorflow():
    """`zoo COMMAND --help` answers from argparse alone: no Keras, no TensorFlow (seconds saved)."""
    import subprocess
    import sys

    for command in ("bench", "tune", "summary"):
        code = (f"import sys; sys.argv = ['zoo', {command!r}, '--help']\n"
                "from zoo.cli import main\n"
                "try:\n    main()\nexcept SystemExit:\n    pass\n"
                "print('loaded:', 'tensorflow' in sys.modules, 'keras' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "usage: zoo" in out.stdout and out.stdout.strip().endswith("loaded: False False"), out.stdout[-500:]


def test_corrupt_keras_file_says_so(tmp_path):
    import pytest

    import zoo

    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="not a valid .keras file"):
        zoo.load_model(path)
    with pytest.raises(FileNotFoundError, match="no such model file"):
        zoo.load_model(tmp_path / "missing.keras")
