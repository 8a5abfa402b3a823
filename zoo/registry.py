"""The model registry: one record per name, ``build`` and ``list_models`` on top.

Families register a builder function; named variants (``squeezenet1_1``, ``resnet20``)
register the same builder with some knobs fixed. A builder's keyword arguments are
its knobs: defaults come from its signature, and each knob's rule from the ``knobs``
table given at registration (``COMMON_KNOBS`` for the keywords every family takes).

Every rule is stated once, here or at registration, and ``check_knobs`` runs them all
before the builder is called, so a bad value fails before any layer exists:

1. each knob on its own: a ``(check, "allowed text")`` pair or a list of choices; numbers
   must be finite (``inf``/``nan`` are refused for every knob);
2. rules across knobs: a 1-unit softmax head, then the family's own ``check`` (e.g. a
   group count that must divide every layer's channels);
3. the input size: the family's ``min_input_size`` (its downsampling), for the resolved
   ``small_input``;
4. the size cap: the family's ``estimate_params`` (plain arithmetic, no layers) must not
   exceed ``MAX_PARAMS`` = 500M parameters (2 GB of float32 weights; the largest model in
   use, AlexNet, has 61M). Raise or lift the cap with the environment variable
   ``ZOO_MAX_PARAMS`` (an integer; ``0`` means no cap).

Errors read ``"<model>: invalid <knob>=<value>; allowed: <text>"`` (``zoo.common.invalid``).
The builder then gets every knob, checked, with ``input_shape`` as a tuple and
``small_input`` resolved to True or False.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from zoo.common import SMALL_INPUT_SIZE, invalid, is_int, is_number, is_positive_int, is_small_input, spatial_size

MAX_PARAMS = 500_000_000
"""Default size cap (parameters); the environment variable ``ZOO_MAX_PARAMS`` overrides it."""

Rule = tuple[Callable[[Any], bool], str]
"""A knob rule: ``(check(value) -> bool, "allowed values, in words")``."""

ACTIVATION_EXAMPLES = ("softmax", "sigmoid", "linear", "relu", "tanh")


def _is_image_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 3 and all(is_int(s) and s > 0 for s in value)


def _activation(value: Any):
    """The Keras activation function ``value`` names, or None when Keras does not know it."""
    import keras

    try:
        return keras.activations.get(value)
    except (ValueError, TypeError):
        return None


# Knobs every family takes (keras.applications conventions).
COMMON_KNOBS: dict[str, Rule] = {
    "input_shape": (_is_image_shape, "(height, width, channels), three positive integers, e.g. (224, 224, 3); "
                                     "the resolution multiplier is expressed here"),
    "num_classes": (is_positive_int, "an integer > 0 (used when include_top=True)"),
    "include_top": (lambda v: isinstance(v, bool), "True or False"),
    "pooling": (lambda v: v in (None, "avg", "max"), "None, 'avg' or 'max' (used when include_top=False)"),
    "classifier_activation": (lambda v: v is None or _activation(v) is not None,
                              f"None or a Keras activation name, e.g. {', '.join(map(repr, ACTIVATION_EXAMPLES))}"),
    "dropout": (lambda v: is_number(v) and 0 <= v < 1, "a number in [0, 1): dropout before the classifier"),
    "small_input": (lambda v: v is None or isinstance(v, bool),
                    f"None (auto: True when the shorter side < {SMALL_INPUT_SIZE} px), True or False: "
                    "use the family's small-input stem"),
    "name": (lambda v: isinstance(v, str) and v != "", "a model name (a non-empty str)"),
}


@dataclass(frozen=True)
class Knob:
    """One keyword of a model builder: its default, what values it accepts, and the check."""

    name: str
    default: Any
    allowed: str
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], bool] | None = field(default=None, repr=False, compare=False)

    def accepts(self, value: Any) -> bool:
        """The knob's rule; ``True`` never stands in for ``1`` in a choice list (nor 1 for True)."""
        if _non_finite(value):
            return False
        if self.choices is not None:
            return any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in self.choices)
        return self.check is None or bool(self.check(value))

    def __str__(self) -> str:
        return f"{self.name}={self.default!r}  ({self.allowed})"


@dataclass(frozen=True)
class ModelSpec:
    """A registered name: the builder, the knobs fixed by this variant, and where it comes from.

    ``min_input_size`` (an int, or a function of the checked knobs) is the smallest height
    and width the network can downsample; ``estimate_params`` (a function of the checked
    knobs) is the parameter count the size cap compares; ``check`` (a function of the
    checked knobs returning ``(knob, allowed)`` or None) states the family's rules that
    involve several knobs at once.
    """

    name: str
    family: str
    builder: Callable[..., Any]
    defaults: Mapping[str, Any]
    knobs: Mapping[str, Knob]
    paper: str = ""
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    min_input_size: int | Callable[[Mapping[str, Any]], int] = 1
    estimate_params: Callable[[Mapping[str, Any]], int] | None = None
    check: Callable[[Mapping[str, Any]], tuple[str, str] | None] | None = None

    def knob_defaults(self) -> dict[str, Any]:
        return {k: v.default for k, v in self.knobs.items()}


_REGISTRY: dict[str, ModelSpec] = {}


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _non_finite(value: Any) -> bool:
    """A float inf/nan, alone or inside a tuple/list (``dilations=(1, inf)``)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, (tuple, list)) and any(_non_finite(v) for v in value)


def _parse_rule(builder: str, knob: str, rule: Any) -> tuple[str, tuple | None, Callable | None]:
    """(allowed text, choices, check) of a ``knobs=`` entry: a list/tuple of choices or a Rule pair."""
    if (isinstance(rule, tuple) and len(rule) == 2 and callable(rule[0]) and isinstance(rule[1], str)):
        return rule[1], None, rule[0]
    if isinstance(rule, (list, tuple)):
        return f"one of {list(rule)}", tuple(rule), None
    raise TypeError(f"builder {builder}: knob {knob!r}: a rule is a (check, 'allowed text') pair "
                    f"or a list of choices, got {rule!r}")


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
        allowed, choices, check = _parse_rule(fn.__name__, p.name, rule)
        knobs[p.name] = Knob(p.name, defaults.get(p.name, p.default), allowed, choices, check)
    unknown = set(rules) - set(knobs)
    if unknown:
        raise TypeError(f"builder {fn.__name__}: knobs= names {sorted(unknown)} that are not parameters")
    return knobs


def register(name: str | None = None, *, family: str | None = None, paper: str = "",
             description: str = "", knobs: Mapping[str, Any] | None = None,
             variants: Mapping[str, Mapping[str, Any]] | None = None,
             min_input_size: int | Callable[[Mapping[str, Any]], int] = 1,
             estimate_params: Callable[[Mapping[str, Any]], int] | None = None,
             check: Callable[[Mapping[str, Any]], tuple[str, str] | None] | None = None,
             **defaults: Any):
    """Decorator: register a family builder under ``name`` (default: the function's name).

    Args:
        knobs: for each family-specific keyword, its rule: a ``(check, "allowed text")``
            pair (as ``zoo.training.Recipe._RULES``), or a list/tuple of choices. Common
            keywords (``COMMON_KNOBS``) have theirs already.
        variants: extra registered names, each mapping to the knobs it fixes, e.g.
            ``{"squeezenet1_1": {"version": "1.1"}}``.
        min_input_size: the smallest height/width the network downsamples, as an int or
            a function of the checked knobs (``small_input`` already True or False).
        estimate_params: a function of the checked knobs giving the parameter count (plain
            arithmetic, see ``zoo.common.conv_params``); the size cap compares it.
        check: a function of the checked knobs for rules across several knobs: returns
            ``(knob, allowed text)`` for the first one broken, or None.
        **defaults: knobs fixed for ``name`` itself.

    Returns the builder wrapped so that calling it directly runs the same checks as ``build``.
    """

    def wrap(fn):
        key = name or fn.__name__
        fam = family or key
        named = {key: defaults, **dict(variants or {})}
        for var_name in named:
            if var_name in _REGISTRY:
                raise ValueError(f"model {var_name!r} is already registered "
                                 f"(by {_REGISTRY[var_name].builder.__module__})")
        rules = dict(knobs or {})
        description_ = description or (inspect.getdoc(fn) or "").split("\n")[0]
        for var_name, fixed in named.items():
            kn = _knobs_of(fn, fixed, rules)
            bad = set(fixed) - set(kn)
            if bad:
                raise TypeError(f"variant {var_name!r} fixes unknown knobs {sorted(bad)}")
            _REGISTRY[var_name] = ModelSpec(var_name, fam, fn, MappingProxyType(dict(fixed)),
                                            MappingProxyType(kn), paper, description_,
                                            min_input_size=min_input_size, estimate_params=estimate_params,
                                            check=check)

        @functools.wraps(fn)
        def checked(**kwargs):
            return fn(**check_knobs(key, kwargs))

        return checked

    return wrap


def width_variants(family: str, widths) -> dict[str, dict[str, Any]]:
    """``{family}_w{100 x width, 3 digits}`` variants (``mobilenet_w050``), each model named as its variant."""
    names = {w: f"{family}_w{round(w * 100):03d}" for w in widths}
    return {n: {"width": w, "name": n} for w, n in names.items()}


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


# Keywords for which None is a real choice, as in keras.applications: no pooling, no activation (logits).
NONE_IS_A_VALUE = ("pooling", "classifier_activation")


def _checked_values(name: str, spec: ModelSpec, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Every knob (defaults filled in), each checked on its own; ``small_input`` resolved."""
    unknown = [k for k in kwargs if k not in spec.knobs]
    if unknown:
        raise TypeError(f"{name}: unknown keyword(s) {', '.join(map(repr, unknown))}. "
                        f"Valid keywords: {', '.join(spec.knobs)}")
    knobs = {**spec.knob_defaults(), **{k: v for k, v in kwargs.items() if v is not None or k in NONE_IS_A_VALUE}}
    for key, value in knobs.items():
        knob = spec.knobs[key]
        if not knob.accepts(value):
            raise invalid(name, key, value, knob.allowed + (" (finite numbers only)" if _non_finite(value) else ""))
    if "input_shape" in knobs:
        knobs["input_shape"] = tuple(knobs["input_shape"])
        if knobs.get("small_input", False) is None:
            knobs["small_input"] = is_small_input(knobs["input_shape"])
    return knobs


def _min_side(spec: ModelSpec, knobs: Mapping[str, Any]) -> int:
    rule = spec.min_input_size
    return int(rule(knobs) if callable(rule) else rule)


def _check_input_size(name: str, spec: ModelSpec, input_shape: tuple, knobs: Mapping[str, Any]) -> None:
    """The network's downsampling needs ``min_input_size`` pixels; say what small_input would allow."""
    needed = _min_side(spec, knobs)
    if min(spatial_size(input_shape)) >= needed:
        return
    hint = ""
    if knobs.get("small_input") is False:
        other = _min_side(spec, {**knobs, "small_input": True})
        if other < needed:
            hint = f"; >= {other} with small_input=True"
    raise invalid(name, "input_shape", input_shape,
                  f"height and width >= {needed} (the network's downsampling needs it{hint})")


def _one_unit_softmax(knobs: Mapping[str, Any]) -> tuple[str, str] | None:
    """A 1-class softmax head outputs 1.0 whatever the input: refuse it."""
    import keras

    if (knobs.get("include_top") and knobs.get("num_classes") == 1
            and _activation(knobs.get("classifier_activation")) is keras.activations.softmax):
        return ("num_classes", "an integer >= 2 with classifier_activation='softmax' (one softmax unit "
                "always outputs 1.0); for binary classification use num_classes=2, or num_classes=1 "
                "with classifier_activation='sigmoid'")
    return None


def max_params() -> int | None:
    """The size cap in parameters: ``ZOO_MAX_PARAMS`` when set (0 = no cap), else ``MAX_PARAMS``."""
    raw = os.environ.get("ZOO_MAX_PARAMS", "").strip().replace("_", "")
    if not raw:
        return MAX_PARAMS
    if not raw.isdigit():
        raise ValueError(f"invalid ZOO_MAX_PARAMS={os.environ['ZOO_MAX_PARAMS']!r}; "
                         "allowed: an integer >= 0 (0 = no cap)")
    return int(raw) or None


def _check_size(name: str, spec: ModelSpec, knobs: Mapping[str, Any]) -> None:
    cap = max_params()
    if cap is None or spec.estimate_params is None:
        return
    try:
        params = spec.estimate_params(knobs)
    except OverflowError:  # a width like 1e308 overflows the channel arithmetic itself
        params = math.inf
    if params > cap:
        changed = {k: v for k, v in knobs.items() if v != spec.knobs[k].default and k != "small_input"}
        about = f"about {params:,} parameters" if params != math.inf else "too many parameters to count"
        raise ValueError(f"{name}: {changed or 'the defaults'} would have {about}, over the size cap of "
                         f"{cap:,} (zoo.registry.MAX_PARAMS); lower the knobs, or raise the cap with the "
                         f"environment variable ZOO_MAX_PARAMS (e.g. ZOO_MAX_PARAMS={_suggest(params)}; "
                         "0 = no cap)")


def _suggest(params: float) -> str:
    return "0" if params == math.inf else str(10 ** math.ceil(math.log10(params + 1)))


def check_knobs(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Full keyword set for the builder, every rule run (see the module docstring).

    Raises:
        TypeError: an unknown keyword.
        ValueError: a value a rule refuses, an input too small for the network, or a
            configuration past the size cap.
    """
    spec = get_spec(name)
    knobs = _checked_values(name, spec, kwargs)
    for rule in (_one_unit_softmax, spec.check):
        broken = rule(knobs) if rule is not None else None
        if broken is not None:
            knob, allowed = broken
            raise invalid(name, knob, knobs[knob], allowed)
    if "input_shape" in knobs:
        _check_input_size(name, spec, knobs["input_shape"], knobs)
    _check_size(name, spec, knobs)
    return knobs


def min_input_size(name: str, knobs: Mapping[str, Any] | None = None) -> int:
    """Smallest height/width ``name`` builds at with these knobs (``small_input`` resolved
    from ``input_shape`` as ``build`` does): ``min_input_size("mobilenet")`` is 32."""
    spec = get_spec(name)
    return _min_side(spec, _checked_values(name, spec, knobs or {}))


def check_input_size(name: str, shape: Any, knobs: Mapping[str, Any] | None = None) -> tuple[int, ...]:
    """Refuse ``shape`` as ``build`` would, for the network that ``knobs`` builds.

    For costing a built model at another resolution (``zoo summary --input-shape``): the
    architecture (``small_input`` included) is the one ``knobs`` builds, the shape is new.
    """
    spec = get_spec(name)
    knobs = _checked_values(name, spec, knobs or {})
    if not _is_image_shape(shape):
        raise invalid(name, "input_shape", shape, spec.knobs["input_shape"].allowed)
    _check_input_size(name, spec, tuple(shape), knobs)
    return tuple(shape)


def estimate_params(name: str, knobs: Mapping[str, Any] | None = None) -> int | None:
    """The parameter count the size cap compares (None when the family gives no estimate)."""
    spec = get_spec(name)
    knobs = _checked_values(name, spec, knobs or {})
    return None if spec.estimate_params is None else spec.estimate_params(knobs)


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
