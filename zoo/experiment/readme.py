"""Copy generated tables into README.md, so the README shows results without anyone typing them.

README.md marks each embedded table with a pair of HTML comments:

    <!-- zoo:embed results/cifar10/results.md -->
    ...replaced by `zoo readme`...
    <!-- /zoo:embed -->

``embed`` replaces what lies between them with the file's body (its title line dropped, headings
demoted one level so they nest under the README's section); ``zoo readme --check`` (and a test)
fail when the README no longer matches the files, so a stale number cannot stay published.
"""

from __future__ import annotations

import re
from pathlib import Path

START = re.compile(r"<!-- zoo:embed (?P<path>[^ ]+) -->\n")
END = "<!-- /zoo:embed -->"


def body(path: Path) -> str:
    """A generated markdown file without its first-level title; '## x' becomes '#### x'."""
    lines = path.read_text().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    out = [("##" + line) if line.startswith("#") else line for line in lines]
    return "\n".join(out).strip("\n") + "\n"


def embed(readme_text: str, root: Path) -> str:
    """The README with every marked block refreshed from the file it names (relative to ``root``)."""
    out, pos = [], 0
    for match in START.finditer(readme_text):
        end = readme_text.find(END, match.end())
        if end < 0:
            raise ValueError(f"README: '{match.group(0).strip()}' has no closing '{END}'")
        source = root / match.group("path")
        if not source.is_file():
            raise FileNotFoundError(f"README embeds {match.group('path')}, which does not exist; "
                                    f"run the command that writes it first")
        out += [readme_text[pos:match.end()], body(source)]
        pos = end
    out.append(readme_text[pos:])
    return "".join(out)


def embedded_paths(readme_text: str) -> list[str]:
    return [m.group("path") for m in START.finditer(readme_text)]
