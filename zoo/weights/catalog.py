"""Which zoo configurations have published ImageNet weights, and the facts that come with them.

One ``Checkpoint`` per published weight set, as torchvision's ``Weights`` enums keep url,
transforms and metadata together: the source and its own name for the weights, the input
sides it was trained for, the preprocessing it expects, the ImageNet-1k top-1 the source
reports (with the page that says so) and the licences. Nothing here imports TensorFlow.

Top-1 figures are the source's own:
- keras.applications: the keras-applications README's "Performance" table (top-1 *error*
  of keras' own evaluation at 224 px, 299 px for Xception; stored here as 100 - error). It
  reports MobileNet and MobileNetV2 only at 224 px; the other sides' files have no figure.
- torchvision: each weights enum's ``meta["_metrics"]["ImageNet-1K"]["acc@1"]``, as the
  docs' table renders it.
- timm: ``results/results-imagenet.csv`` of pytorch-image-models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

KERAS_TOP1_URL = "https://github.com/keras-team/keras-applications#performance"
# Keras 2's applications docs (the last that stated the weights' licences, per model).
KERAS_LICENSE_URL = ("https://github.com/keras-team/keras/blob/034466bbe50bf68b64d4883b62deec0372869f87/"
                     "docs/templates/applications.md")
TORCHVISION_TOP1_URL = "https://docs.pytorch.org/vision/stable/models.html#table-of-all-available-classification-weights"
TORCHVISION_LICENSE_URL = "https://github.com/pytorch/vision#pre-trained-model-license"
TORCHVISION_URL = "https://download.pytorch.org/models/"
TIMM_TOP1_URL = "https://github.com/huggingface/pytorch-image-models/blob/main/results/results-imagenet.csv"
TIMM_HUB_URL = "https://huggingface.co/timm/"

# keras.applications' download locations (keras/src/applications/{mobilenet,mobilenet_v2,xception}.py).
KERAS_MOBILENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
KERAS_MOBILENET_V2_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
KERAS_XCEPTION_URL = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
KERAS_XCEPTION_FILES = {  # include_top -> (file name, md5) as keras.applications.Xception passes them
    True: ("xception_weights_tf_dim_ordering_tf_kernels.h5", "0a58e3b7378bc2990ea3b43d5981f1f6"),
    False: ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5", "b0042744bf5b25fce3cb969f33bebb97"),
}
KERAS_MOBILENET_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}

# Input scaling per checkpoint family; the model input is always 0-255 RGB.
PREPROCESSING = {
    "tf": "x / 127.5 - 1 (pixels in [-1, 1]; keras.applications' mode='tf')",
    "torch": "(x / 255 - mean) / std with ImageNet mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)",
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """One published weight set for one zoo configuration.

    ``name`` + ``knobs`` is the zoo configuration (a registered name and the knobs it
    needs beyond that name's defaults); ``tag`` selects it in ``zoo.build(..., weights=tag)``.
    ``layout`` is "keras" when the zoo model takes the weights as built, "torch" when it
    needs PyTorch's symmetric stride-2 padding and BatchNorm epsilon (``zoo.weights.torch_port``).
    """

    name: str
    tag: str
    source: str
    source_id: str
    resolutions: tuple[int, ...]
    top1: Mapping[int, float]
    top1_url: str
    preprocessing: str
    code_license: str
    weights_license: str
    license_url: str
    knobs: Mapping[str, Any] = field(default_factory=dict)
    resize: int | None = None  # the source's eval resize of the shorter side before a center crop
    keras_app: str = ""        # keras.applications constructor
    keras_kwargs: Mapping[str, Any] = field(default_factory=dict)
    torch_lib: str = ""        # "torchvision" or "timm"
    torch_arch: str = ""       # the source library's model name
    torch_weights: str = ""    # its name for the weights (torchvision enum, timm pretrained tag)
    url: str = ""              # the published file (torch sources; keras files depend on side and top)

    def __post_init__(self):
        object.__setattr__(self, "knobs", MappingProxyType(dict(self.knobs)))
        object.__setattr__(self, "top1", MappingProxyType(dict(self.top1)))
        object.__setattr__(self, "keras_kwargs", MappingProxyType(dict(self.keras_kwargs)))
        if self.preprocessing not in PREPROCESSING:
            raise ValueError(f"{self.id}: preprocessing {self.preprocessing!r} not in {sorted(PREPROCESSING)}")

    @property
    def id(self) -> str:
        """``name[knobs].tag``, e.g. ``shufflenet_v2_x1_0.torchvision``, ``mobilenet_v2(width=1.3).keras``."""
        return f"{self.config}.{self.tag}"

    @property
    def config(self) -> str:
        knobs = ", ".join(f"{k}={v!r}" for k, v in self.knobs.items())
        return f"{self.name}({knobs})" if knobs else self.name

    @property
    def layout(self) -> str:
        return "keras" if self.source == "keras.applications" else "torch"

    @property
    def default_resolution(self) -> int:
        return 224 if 224 in self.resolutions else max(self.resolutions)

    @property
    def cache_file(self) -> str:
        """File name of a converted checkpoint in ``<KERAS_HOME>/models/zoo/`` (torch sources)."""
        return f"{self.name}.{self.tag}.weights.h5"


def _keras(name, app, alpha, top1_error, resolutions, weights_license, **knobs):
    kwargs = {} if alpha is None else {"alpha": alpha}
    label = f"keras.applications.{app}" + (f"(alpha={alpha})" if alpha is not None else "")
    return Checkpoint(
        name=name, tag="keras", source="keras.applications", source_id=label, resolutions=resolutions,
        top1={max(resolutions): round(100 - top1_error, 3)}, top1_url=KERAS_TOP1_URL,
        preprocessing="tf", code_license="Apache-2.0", weights_license=weights_license,
        license_url=KERAS_LICENSE_URL, knobs=knobs, keras_app=app, keras_kwargs=kwargs)


def _torchvision(name, arch, enum, file, top1, tag="torchvision", resize=256, **knobs):
    return Checkpoint(
        name=name, tag=tag, source="torchvision", source_id=enum, resolutions=(224,), top1={224: top1},
        top1_url=TORCHVISION_TOP1_URL, preprocessing="torch", code_license="BSD-3-Clause",
        weights_license="not stated; may carry ImageNet's terms",
        license_url=TORCHVISION_LICENSE_URL, knobs=knobs, resize=resize, torch_lib="torchvision",
        torch_arch=arch, torch_weights=enum, url=TORCHVISION_URL + file)


_MOBILENET_SIDES = (128, 160, 192, 224)
_MOBILENET_V2_SIDES = (96, 128, 160, 192, 224)
_KERAS_MOBILENET_LICENSE = "Apache-2.0 (TF-slim checkpoints)"

CHECKPOINTS: tuple[Checkpoint, ...] = (
    # keras.applications: the zoo models take these files layer for layer (tests/test_mobilenet.py,
    # tests/test_xception.py). Listed first: weights="imagenet" picks the first match.
    _keras("mobilenet_w025", "MobileNet", 0.25, 48.418, _MOBILENET_SIDES, _KERAS_MOBILENET_LICENSE),
    _keras("mobilenet_w050", "MobileNet", 0.5, 35.708, _MOBILENET_SIDES, _KERAS_MOBILENET_LICENSE),
    _keras("mobilenet_w075", "MobileNet", 0.75, 31.588, _MOBILENET_SIDES, _KERAS_MOBILENET_LICENSE),
    _keras("mobilenet", "MobileNet", 1.0, 29.576, _MOBILENET_SIDES, _KERAS_MOBILENET_LICENSE),
    _keras("mobilenet_v2_w035", "MobileNetV2", 0.35, 39.914, _MOBILENET_V2_SIDES, _KERAS_MOBILENET_LICENSE),
    _keras("mobilenet_v2_w050", "MobileNetV2", 0.5, 34.806, _MOBILENET_V2_SIDES, _KERAS_MOBILENET_LICENSE),
    _keras("mobilenet_v2_w075", "MobileNetV2", 0.75, 30.468, _MOBILENET_V2_SIDES, _KERAS_MOBILENET_LICENSE),
    _keras("mobilenet_v2", "MobileNetV2", 1.0, 28.664, _MOBILENET_V2_SIDES, _KERAS_MOBILENET_LICENSE),
    _keras("mobilenet_v2", "MobileNetV2", 1.3, 25.320, _MOBILENET_V2_SIDES, _KERAS_MOBILENET_LICENSE, width=1.3),
    _keras("mobilenet_v2_w140", "MobileNetV2", 1.4, 24.770, _MOBILENET_V2_SIDES, _KERAS_MOBILENET_LICENSE),
    _keras("xception", "Xception", None, 20.994, (299,), "MIT (trained by the Keras team)"),
    # torchvision: converted once by `zoo convert-weights` (PyTorch needed for that step only).
    _torchvision("squeezenet1_0", "squeezenet1_0", "SqueezeNet1_0_Weights.IMAGENET1K_V1",
                 "squeezenet1_0-b66bff10.pth", 58.092),
    _torchvision("squeezenet1_1", "squeezenet1_1", "SqueezeNet1_1_Weights.IMAGENET1K_V1",
                 "squeezenet1_1-b8a52dc0.pth", 58.178),
    _torchvision("shufflenet_v2_x0_5", "shufflenet_v2_x0_5", "ShuffleNet_V2_X0_5_Weights.IMAGENET1K_V1",
                 "shufflenetv2_x0.5-f707e7126e.pth", 60.552),
    _torchvision("shufflenet_v2_x1_0", "shufflenet_v2_x1_0", "ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1",
                 "shufflenetv2_x1-5666bf0f80.pth", 69.362),
    _torchvision("shufflenet_v2_x1_5", "shufflenet_v2_x1_5", "ShuffleNet_V2_X1_5_Weights.IMAGENET1K_V1",
                 "shufflenetv2_x1_5-3c479a10.pth", 72.996, resize=232),
    _torchvision("shufflenet_v2_x2_0", "shufflenet_v2_x2_0", "ShuffleNet_V2_X2_0_Weights.IMAGENET1K_V1",
                 "shufflenetv2_x2_0-8be3c8ee.pth", 76.230, resize=232),
    _torchvision("mobilenet_v2", "mobilenet_v2", "MobileNet_V2_Weights.IMAGENET1K_V1",
                 "mobilenet_v2-b0353104.pth", 71.878),
    _torchvision("mobilenet_v2", "mobilenet_v2", "MobileNet_V2_Weights.IMAGENET1K_V2",
                 "mobilenet_v2-7ebf99e0.pth", 72.154, tag="torchvision_v2", resize=232),
    # timm's MobileNet v1 (ReLU6, no residuals, torch padding): the zoo "mobilenet" with
    # torch layout, parameter for parameter. Its mean = std = 0.5 is the "tf" scaling.
    Checkpoint(
        name="mobilenet", tag="timm", source="timm", source_id="mobilenetv1_100.ra4_e3600_r224_in1k",
        resolutions=(224, 256), top1={224: 75.388, 256: 76.088}, top1_url=TIMM_TOP1_URL, preprocessing="tf",
        code_license="Apache-2.0", weights_license="Apache-2.0 (timm's pretrained_cfg)",
        license_url=TIMM_HUB_URL + "mobilenetv1_100.ra4_e3600_r224_in1k", resize=256, torch_lib="timm",
        torch_arch="mobilenetv1_100", torch_weights="mobilenetv1_100.ra4_e3600_r224_in1k",
        url=TIMM_HUB_URL + "mobilenetv1_100.ra4_e3600_r224_in1k/resolve/main/model.safetensors"),
)


def keras_file(ckpt: Checkpoint, side: int, include_top: bool) -> tuple[str, str, str | None]:
    """(file name, URL, md5 or None) of a keras.applications weights file, as keras names it."""
    if ckpt.keras_app == "MobileNet":
        alpha_text = KERAS_MOBILENET_ALPHA_TEXT[ckpt.keras_kwargs["alpha"]]
        fname = f"mobilenet_{alpha_text}_{side}_tf{'' if include_top else '_no_top'}.h5"
        return fname, KERAS_MOBILENET_URL + fname, None
    if ckpt.keras_app == "MobileNetV2":
        alpha = float(ckpt.keras_kwargs["alpha"])
        fname = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{side}{'' if include_top else '_no_top'}.h5"
        return fname, KERAS_MOBILENET_V2_URL + fname, None
    if ckpt.keras_app == "Xception":
        fname, md5 = KERAS_XCEPTION_FILES[bool(include_top)]
        return fname, KERAS_XCEPTION_URL + fname, md5
    raise ValueError(f"{ckpt.id}: not a keras.applications checkpoint")


def checkpoints_for(name: str | None = None) -> list[Checkpoint]:
    """The checkpoints of a registered name's family (all of them for None)."""
    if name is None:
        return list(CHECKPOINTS)
    from zoo.registry import get_spec

    builder = get_spec(name).builder
    return [c for c in CHECKPOINTS if get_spec(c.name).builder is builder]


def pretrained_table() -> str:
    """The checkpoints as a Markdown table (embedded in README.md)."""
    rows = [("| zoo configuration | `weights=` | source (its name) | input sides | ImageNet top-1 (source) "
             "| preprocessing | licence: code / weights |"),
            "|---|---|---|---|---|---|---|"]
    for c in CHECKPOINTS:
        top1 = ", ".join(f"{v:.1f}% @{side}" for side, v in sorted(c.top1.items()))
        sides = ", ".join(map(str, c.resolutions))
        tags = f"`{c.tag!r}`" if c is not _default_of(c) else f"`'imagenet'`, `{c.tag!r}`"
        crop = f", resize {c.resize} + crop" if c.resize else ""
        rows.append(f"| `{c.config}` | {tags} | {c.source} (`{c.source_id}`) | {sides} | [{top1}]({c.top1_url}) "
                    f"| `{c.preprocessing}`{crop} | {c.code_license} / [{c.weights_license}]({c.license_url}) |")
    notes = ["", "Preprocessing (`include_preprocessing=True` puts the scaling inside the model; inputs are 0-255 RGB):"]
    notes += [f"- `{k}`: {v}" for k, v in PREPROCESSING.items()]
    notes.append("- resize N + crop: the source evaluates on the centre crop (the input side) of the image resized "
                 "to N on its shorter side; resizing and cropping stay outside the model.")
    return "\n".join(rows + notes) + "\n"


def _default_of(ckpt: Checkpoint) -> Checkpoint:
    """The checkpoint ``weights="imagenet"`` picks for ckpt's configuration: the first listed."""
    return next(c for c in CHECKPOINTS if c.name == ckpt.name and dict(c.knobs) == dict(ckpt.knobs))
