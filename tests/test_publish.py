"""README tables are copies of generated files: `zoo readme` writes them, nobody types them."""

from pathlib import Path

import pytest

from zoo.experiment.readme import END, body, embed, embedded_paths
from zoo.cli import main as zoo_main

REPO = Path(__file__).resolve().parents[1]


def test_readme_matches_the_files_it_embeds():
    text = (REPO / "README.md").read_text()
    assert "results/cifar10/results.md" in embedded_paths(text)
    assert embed(text, REPO) == text, "README.md is stale: run `zoo readme`"


def test_embed_replaces_only_marked_blocks(tmp_path):
    (tmp_path / "t.md").write_text("# Title\n\n- a: 1\n\n## Part\n\n| x |\n|---|\n| 2 |\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n<!-- zoo:embed t.md -->\nold numbers\n{END}\noutro\n")
    assert body(tmp_path / "t.md") == "- a: 1\n\n#### Part\n\n| x |\n|---|\n| 2 |\n"
    assert zoo_main(["readme", "--readme", str(readme), "--check"]) == 1
    assert zoo_main(["readme", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n<!-- zoo:embed t.md -->\n- a: 1\n") and text.endswith(f"| 2 |\n{END}\noutro\n")
    assert "old numbers" not in text
    assert zoo_main(["readme", "--readme", str(readme), "--check"]) == 0
    assert embed(text, tmp_path) == text  # idempotent


@pytest.mark.parametrize("text, error, message", [
    ("<!-- zoo:embed t.md -->\nno end\n", ValueError, "no closing"),
    (f"<!-- zoo:embed missing.md -->\n{END}\n", FileNotFoundError, "missing.md, which does not exist"),
])
def test_broken_markers_are_named(tmp_path, text, error, message):
    (tmp_path / "t.md").write_text("# T\nx\n")
    with pytest.raises(error, match=message):
        embed(text, tmp_path)
