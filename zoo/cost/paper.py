"""Published costs as data: each paper's table next to what ``zoo.cost.analyze`` counts.

Every figure is kept as printed (``"4.2M"``, ``"569M"``, ``"1,248,424"``) so its precision
is part of the data: a figure is matched within ``max(3%, half its last printed digit)``
(``"0.5M"`` stands for 0.45M-0.55M), exact integers exactly, unless the row gives its
own ``tolerance`` and says why in ``note``. ``quantity`` says what we compare:

* ``trainable_params``: learned weights, what papers and torchvision count (BN moving
  statistics are buffers, not parameters, there);
* ``params``: ``model.count_params()``, what keras.applications reports (adds BN moving stats);
* ``macs``: multiply-accumulates, the papers' "mult-adds" (ShuffleNet and torchvision call
  them FLOPs). Each configuration is the registered model's defaults plus ``knobs``
  (224×224×3 and 1000 classes for the ImageNet families, 32×32×3 and 10 for the CIFAR ResNets).

``zoo costs`` turns this table into ``results/costs.md``; ``tests/test_paper_costs.py``
asserts every row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DEFAULT_TOLERANCE = 0.03
QUANTITIES = ("params", "trainable_params", "macs")
_UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}

MOBILENET = "MobileNets (Howard et al. 2017, arXiv:1704.04861)"
MOBILENET_V2 = "MobileNetV2 (Sandler et al. 2018, arXiv:1801.04381)"
SHUFFLENET = "ShuffleNet (Zhang et al. 2017, arXiv:1707.01083)"
SQUEEZENET = "SqueezeNet (Iandola et al. 2016, arXiv:1602.07360)"
XCEPTION = "Xception (Chollet 2017, arXiv:1610.02357)"
RESNET = "Deep Residual Learning (He et al. 2015, arXiv:1512.03385)"
TORCHVISION = "torchvision weights metadata"
KERAS_APPS = "keras.applications"


@dataclass(frozen=True)
class PaperFigure:
    """One published number for one configuration of a registered model."""

    model: str
    knobs: Mapping[str, Any]
    quantity: str
    printed: str
    counts: str
    source: str
    note: str = ""
    tolerance: float | None = None

    def __post_init__(self):
        if self.quantity not in QUANTITIES:
            raise ValueError(f"PaperFigure {self.model}: invalid quantity={self.quantity!r}; "
                             f"allowed: one of {list(QUANTITIES)}")
        object.__setattr__(self, "knobs", MappingProxyType(dict(self.knobs)))
        self.value  # parse now: a typo in the table fails at import

    @property
    def value(self) -> float:
        return _parse(self.printed)[0]

    @property
    def allowed_error(self) -> float:
        """Relative tolerance: the row's own, 0 for exact integers, else max(3%, half a printed digit)."""
        if self.tolerance is not None:
            return self.tolerance
        value, half_digit, exact = _parse(self.printed)
        return 0.0 if exact else max(DEFAULT_TOLERANCE, half_digit / value)

    def ratio(self, ours: float) -> float:
        return ours / self.value

    def matches(self, ours: float) -> bool:
        return abs(self.ratio(ours) - 1) <= self.allowed_error + 1e-12

    def config(self) -> str:
        """``mobilenet(width=0.5)`` -- the configuration in words."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.knobs.items())
        return f"{self.model}({args})"


def _parse(printed: str) -> tuple[float, float, bool]:
    """``"4.2M"`` -> (4.2e6, 0.05e6, False); ``"1,248,424"`` -> (1248424, 0.5, True)."""
    m = re.fullmatch(r"\s*([\d,]+)(?:\.(\d+))?\s*([KMG]?)\s*", printed)
    if not m:
        raise ValueError(f"invalid printed figure {printed!r}; allowed: like '4.2M', '569M', '1,248,424'")
    whole, frac, unit = m.group(1).replace(",", ""), m.group(2) or "", m.group(3)
    scale = _UNITS[unit]
    value = float(f"{whole}.{frac}" if frac else whole) * scale
    half_digit = 0.5 * scale * 10 ** -len(frac)
    return value, half_digit, unit == "" and not frac


def _figures(model, knobs, source, counts, **printed_by_quantity):
    return [PaperFigure(model, knobs, q, p, counts[q], source) for q, p in printed_by_quantity.items()]


_MOBILENET_COUNTS = {"trainable_params": "million parameters", "macs": "million mult-adds incl. the classifier"}
_MOBILENET_WIDTHS = (("mobilenet", 1.0, "4.2M", "569M"), ("mobilenet_w075", 0.75, "2.6M", "325M"),
                     ("mobilenet_w050", 0.5, "1.3M", "149M"), ("mobilenet_w025", 0.25, "0.5M", "41M"))
_MOBILENET_RESOLUTIONS = ((192, "418M"), (160, "290M"), (128, "186M"))
# ShuffleNet 1× (Table 2): complexity in MFLOPs, which the paper defines as mult-adds.
_SHUFFLENET_GROUPS = ((1, "143M"), (2, "140M"), (3, "137M"), (4, "133M"), (8, "137M"))
_SHUFFLENET_V2 = (("shufflenet_v2_x0_5", "1,366,792", "0.04G"), ("shufflenet_v2_x1_0", "2,278,604", "0.145G"),
                  ("shufflenet_v2_x1_5", "3,503,624", "0.296G"), ("shufflenet_v2_x2_0", "7,393,996", "0.583G"))

PAPER_FIGURES: tuple[PaperFigure, ...] = tuple([
    # --- MobileNet v1: Table 6 (width), Table 7 (resolution), Table 4 (full convolutions) ---
    *[f for name, _, params, macs in _MOBILENET_WIDTHS
      for f in _figures(name, {}, f"{MOBILENET}, Table 6", _MOBILENET_COUNTS,
                        trainable_params=params, macs=macs)],
    *[PaperFigure("mobilenet", {"input_shape": (r, r, 3)}, "macs", macs, _MOBILENET_COUNTS["macs"],
                  f"{MOBILENET}, Table 7") for r, macs in _MOBILENET_RESOLUTIONS],
    *_figures("mobilenet_conv", {}, f"{MOBILENET}, Table 4 (Conv MobileNet)", _MOBILENET_COUNTS,
              trainable_params="29.3M", macs="4866M"),
    PaperFigure("mobilenet", {}, "params", "4,253,864", "count_params() incl. BN moving statistics",
                f"{KERAS_APPS}.MobileNet(weights=None)"),
    # --- MobileNet v2: Table 4 ---
    PaperFigure("mobilenet_v2", {}, "trainable_params", "3.4M", "million parameters",
                f"{MOBILENET_V2}, Table 4", tolerance=0.035,
                note="the paper truncates: its reference (TF-slim) lists 3.47M, torchvision counts 3,504,872"),
    PaperFigure("mobilenet_v2", {}, "macs", "300M", "multiply-adds incl. the classifier",
                f"{MOBILENET_V2}, Table 4"),
    PaperFigure("mobilenet_v2", {}, "trainable_params", "3,504,872", "parameters (no BN buffers)",
                TORCHVISION),
    PaperFigure("mobilenet_v2", {}, "macs", "0.301G", "'GFLOPS' = mult-adds", TORCHVISION),
    PaperFigure("mobilenet_v2", {}, "params", "3,538,984", "count_params() incl. BN moving statistics",
                f"{KERAS_APPS}.MobileNetV2(weights=None)"),
    # --- ShuffleNet v1 1×: Table 2, classifier left out (we cost include_top=False) ---
    *[PaperFigure(f"shufflenet_g{g}", {"include_top": False}, "macs", macs,
                  "mult-adds ('MFLOPs'), classifier left out", f"{SHUFFLENET}, Table 2")
      for g, macs in _SHUFFLENET_GROUPS],
    # --- ShuffleNet v2 (torchvision's reproduction of Ma et al. 2018, arXiv:1807.11164) ---
    *[f for name, params, macs in _SHUFFLENET_V2
      for f in (PaperFigure(name, {}, "trainable_params", params, "parameters (no BN buffers)", TORCHVISION),
                PaperFigure(name, {}, "macs", macs, "'GFLOPS' = mult-adds", TORCHVISION))],
    # --- SqueezeNet: Table 1 total; torchvision's exact counts ---
    PaperFigure("squeezenet1_0", {}, "trainable_params", "1.25M", "parameters (no pruning)",
                f"{SQUEEZENET}, Table 1"),
    *[f for name, params, macs in (("squeezenet1_0", "1,248,424", "0.819G"),
                                   ("squeezenet1_1", "1,235,496", "0.349G"))
      for f in (PaperFigure(name, {}, "trainable_params", params, "parameters", TORCHVISION),
                PaperFigure(name, {}, "macs", macs, "'GFLOPS' = mult-adds", TORCHVISION))],
    # --- Xception: Table 3 ---
    PaperFigure("xception", {}, "trainable_params", "22.9M", "parameters", f"{XCEPTION}, Table 3"),
    PaperFigure("xception", {}, "params", "22,910,480", "count_params() incl. BN moving statistics",
                f"{KERAS_APPS}.Xception(weights=None)"),
    # --- CIFAR ResNets (option-A shortcuts, 32×32 inputs, 10 classes): Table 6 ---
    *[PaperFigure("resnet", {"depth": depth}, "trainable_params", params, "million parameters (CIFAR-10)",
                  f"{RESNET}, Table 6")
      for depth, params in ((20, "0.27M"), (32, "0.46M"), (44, "0.66M"), (56, "0.85M"), (110, "1.7M"))],
])

# The keras.applications rows, checked against keras itself by tests/test_paper_costs.py.
KERAS_APPLICATIONS = {"mobilenet": "MobileNet", "mobilenet_v2": "MobileNetV2", "xception": "Xception"}


@dataclass
class Comparison:
    """A figure, our count for it (None when the model is not registered) and the verdict."""

    figure: PaperFigure
    ours: int | None
    missing: str = ""
    input_shape: tuple[int, ...] | None = None

    @property
    def ratio(self) -> float | None:
        return None if self.ours is None else self.figure.ratio(self.ours)

    @property
    def ok(self) -> bool | None:
        return None if self.ours is None else self.figure.matches(self.ours)


@dataclass
class _Cache:
    build: Callable[..., Any]
    reports: dict = field(default_factory=dict)

    def report(self, figure: PaperFigure, progress=None):
        from zoo.cost.analyze import analyze

        key = (figure.model, tuple(sorted(figure.knobs.items())))
        if key not in self.reports:
            if progress:
                progress(figure)
            model = self.build(figure.model, **figure.knobs)
            self.reports[key] = analyze(model)
            del model
        return self.reports[key]


def compare(figures: Iterable[PaperFigure] = PAPER_FIGURES, build: Callable[..., Any] | None = None,
            progress: Callable[[PaperFigure], None] | None = None) -> list[Comparison]:
    """Build each configuration once, count it, and pair it with the published figure.

    A model that is not registered (a family still being written) gives a row with
    ``ours=None`` and ``missing`` saying so, rather than an error.
    """
    from zoo.registry import list_models

    import zoo

    cache = _Cache(build or zoo.build)
    registered = set(list_models())
    out = []
    for figure in figures:
        if figure.model not in registered:
            out.append(Comparison(figure, None, f"model {figure.model!r} is not registered"))
            continue
        report = cache.report(figure, progress)
        out.append(Comparison(figure, getattr(report, figure.quantity), input_shape=report.input_shape))
    return out
