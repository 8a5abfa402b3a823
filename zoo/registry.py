"""The model registry: one record per name, ``build`` and ``list_models`` on top.

Families register a builder function; named variants (``squeezenet1_1``, ``resnet20``)
register the same builder with some knobs fixed. A builder's keyword arguments are
its knobs: defaults come from its signature, and the allowed values from the ``knobs``
table given at registration (a human-readable rule plus an optional check).
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Knobs every family takes (keras.applications conventions).
COMMON_KNOBS: dict[str, str] = {
    "input_shape": "(height, width, channels), positive integers; the resolution multiplier is expressed here",
    "num_classes": "an integer > 0 (used when include_top=True)",
    "include_top": "True or False",
    "pooling": "None, 'avg' or 'max' (used when include_top=False)",
    "classifier_activation": "a Keras activation name or None",
    "dropout": "a number in [0, 1): dropout before the classifier",
    "small_input": "None (auto: True when the shorter side < 128 px), True or False: use the family's small-input stem",
    "name": "a model name (str)",
}


@dataclass(frozen=True)
class Knob:
    """One keyword of a model builder: its default and what values it accepts."""

    name: str
    default: Any
    allowed: str
    choices: tuple[Any, ...] | None = None

    def __str__(self) -> str:
        return f"{self.name}={self.default!r}  ({self.allowed})"


@dataclass(frozen=True)
class ModelSpec:
    """A registered name: the builder, the knobs fixed by this variant, and where it comes from."""

    name: str
    family: str
    builder: Callable[..., Any]
    defaults: Mapping[str, Any]
    knobs: Mapping[str, Knob]
    paper: str = ""
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    def knob_defaults(self) -> dict[str, Any]:
        return {k: v.default for k, v in self.knobs.items()}


_REGISTRY: dict[str, ModelSpec] = {}


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _knobs_of(fn: Callable, defaults: Mapping[str, Any], rules: Mapping[str, Any]) -> dict[str, Knob]:
    knobs = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            continue
        if p.default is p.empty:
            raise TypeError(f"builder {fn.__name__}: knob {p.name!r} needs a default")
        rule = rules.get(p.name, COMMON_KNOBS.get(p.name))
        if rule is None:
            raise TypeError(f"builder {fn.__name__}: knob {p.name!r} has no 'allowed' rule in knobs=")
        choices = tuple(rule) if isinstance(rule, (list, tuple)) else None
        allowed = f"one of {list(choices)}" if choices is not None else str(rule)
        knobs[p.name] = Knob(p.name, defaults.get(p.name, p.default), allowed, choices)
    unknown = set(rules) - set(knobs)
    if unknown:
        raise TypeError(f"builder {fn.__name__}: knobs= names {sorted(unknown)} that are not parameters")
    return knobs


def register(name: str | None = None, *, family: str | None = None, paper: str = "",
             description: str = "", knobs: Mapping[str, Any] | None = None,
             variants: Mapping[str, Mapping[str, Any]] | None = None, **defaults: Any):
    """Decorator: register a family builder under ``name`` (default: the function's name).

    Args:
        knobs: for each family-specific keyword, the allowed values: a list/tuple of
            choices, or a sentence describing the rule. Common keywords are known already.
        variants: extra registered names, each mapping to the knobs it fixes, e.g.
            ``{"squeezenet1_1": {"version": "1.1"}}``.
        **defaults: knobs fixed for ``name`` itself.
    """

    def wrap(fn):
        key = name or fn.__name__
        fam = family or key
        rules = dict(knobs or {})
        description_ = description or (inspect.getdoc(fn) or "").split("\n")[0]
        for var_name, fixed in {key: defaults, **dict(variants or {})}.items():
            if var_name in _REGISTRY:
                raise ValueError(f"model {var_name!r} is already registered "
                                 f"(by {_REGISTRY[var_name].builder.__module__})")
            kn = _knobs_of(fn, fixed, rules)
            bad = set(fixed) - set(kn)
            if bad:
                raise TypeError(f"variant {var_name!r} fixes unknown knobs {sorted(bad)}")
            _REGISTRY[var_name] = ModelSpec(var_name, fam, fn, MappingProxyType(dict(fixed)),
                                            MappingProxyType(kn), paper, description_)
        return fn

    return wrap


def list_models(pattern: str = "*", exclude: str | tuple[str, ...] = ()) -> list[str]:
    """Registered names matching a shell wildcard (``"mobilenet*"``), in natural order."""
    _ensure_loaded()
    exclude = (exclude,) if isinstance(exclude, str) else tuple(exclude)
    names = [n for n in _REGISTRY
             if fnmatch.fnmatch(n, pattern) and not any(fnmatch.fnmatch(n, x) for x in exclude)]
    return sorted(names, key=_natural_key)


def get_spec(name: str) -> ModelSpec:
    """The record of a registered name; an unknown name raises with close matches."""
    _ensure_loaded()
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} Available: {', '.join(list_models())}")
    return _REGISTRY[name]


def model_knobs(name: str) -> dict[str, Knob]:
    """The knobs of a registered name: default and allowed values for each."""
    return dict(get_spec(name).knobs)


def check_knobs(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Full keyword set for ``build``: unknown names and values outside a choice list raise."""
    spec = get_spec(name)
    unknown = [k for k in kwargs if k not in spec.knobs]
    if unknown:
        raise TypeError(f"{name}: unknown keyword(s) {', '.join(map(repr, unknown))}. "
                        f"Valid keywords: {', '.join(spec.knobs)}")
    merged = {**spec.defaults, **{k: v for k, v in kwargs.items() if v is not None or k == "pooling"}}
    for key, value in merged.items():
        knob = spec.knobs[key]
        if knob.choices is not None and value not in knob.choices:
            raise ValueError(f"{name}: invalid {key}={value!r}; allowed: {knob.allowed}")
    return merged


def build(name: str, *, weights: Any = None, include_preprocessing: bool | str = False, **kwargs: Any):
    """Build a registered model: ``zoo.build("shufflenet", groups=3)`` -> ``keras.Model``.

    ``None`` values fall back to the defaults (so callers can pass optional settings
    through), except ``pooling`` where ``None`` is a real choice. ``weights`` ("imagenet",
    a tag or a file) and ``include_preprocessing`` are handled by ``zoo.weights``.
    """
    if weights is not None or include_preprocessing:
        from zoo.weights import build_with_weights

        return build_with_weights(name, kwargs, weights=weights, include_preprocessing=include_preprocessing)
    spec = get_spec(name)
    return spec.builder(**check_knobs(name, kwargs))


def _ensure_loaded() -> None:
    # Families register themselves on import (as in torchvision); import them on first use.
    import zoo.models  # noqa: F401
