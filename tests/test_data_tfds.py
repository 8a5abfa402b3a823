"""zoo.data's TFDS fallback."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_tensorflow_datasets_imports_what_it_needs(tmp_path):
    """TFDS imports importlib_resources for every builder but declares it only for Python < 3.9."""
    import tensorflow_datasets as tfds

    urls = tfds.builder("cifar10", data_dir=str(tmp_path)).url_infos  # the lazy import happens here
    assert any("cifar-10" in url for url in urls)
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.split(";")[0].strip().startswith("importlib_resources") for d in dependencies)
    assert not list(tmp_path.iterdir())  # a builder alone writes nothing
