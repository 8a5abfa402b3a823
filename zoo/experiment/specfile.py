"""Spec files (benchmark suites, tuning jobs): TOML read once, every key and value checked.

A spec is data, not code, so a published table can be reproduced from the file alone.
These are the checks every spec shares; each error names the file (and for a syntax error
the line and column), the key and what is allowed, before anything expensive runs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def load_toml(path: Path, what: str) -> tuple[dict[str, Any], str]:
    """The parsed document and its text; a missing file or bad TOML raises naming both.

    Syntax errors read ``FILE:LINE:COLUMN: not valid TOML: ...``, as compilers print them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read the {what}: {err}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        where = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if where:
            message = message.replace(where.group(0), "").strip()
            raise ValueError(f"{path}:{where.group(1)}:{where.group(2)}: not valid TOML: {message}") from None
        raise ValueError(f"{path}: not valid TOML: {message}") from None


def check_keys(table: Mapping[str, Any], allowed: Mapping[str, str], where: str, path: Path) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))} in {where}; "
                         f"allowed: {', '.join(allowed)}")


def table(doc: Mapping[str, Any], key: str, path: Path, required: bool = False, hint: str = "") -> dict[str, Any]:
    """``doc[key]`` as a dict; absent -> {} (or an error when ``required``)."""
    value = doc.get(key)
    if value is None:
        if required:
            raise ValueError(f"{path}: needs a [{key}] table" + (f" ({hint})" if hint else ""))
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{path}: [{key}] must be a table, got {value!r}")
    return dict(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_int(value: Any, where: str, path: Path) -> int:
    if not is_int(value) or value <= 0:
        raise ValueError(f"{path}: invalid {where}={value!r}; allowed: an integer > 0")
    return value


def non_negative_int(value: Any, where: str, path: Path) -> int:
    if not is_int(value) or value < 0:
        raise ValueError(f"{path}: invalid {where}={value!r}; allowed: an integer >= 0")
    return value


def parse_name(doc: Mapping[str, Any], path: Path) -> tuple[str, str]:
    """The ``name`` and ``description`` every spec file (suite or tuning job) starts with."""
    name = doc.get("name")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"{path}: invalid name={name!r}; allowed: a non-empty string without '/'")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"{path}: invalid description={description!r}; allowed: a string")
    return name, description


def parse_recipe(values: Mapping[str, Any], source: str):
    """A ``[recipe]`` table as a ``zoo.training.Recipe``: the one place recipes are parsed."""
    from zoo.training import Recipe

    return Recipe.from_dict(dict(values), source)
