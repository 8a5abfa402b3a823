"""``zoo export NAME|PATH.keras --tflite OUT.tflite | --onnx OUT.onnx | --openvino OUT.xml``.

TFLite/LiteRT in float32 (default), ``--float16``, ``--dynamic-range`` or ``--int8`` (full
integer, calibrated on ``--calibration DATASET[:SPLIT]``, the train split unless named);
input and output stay float32 unless ``--integer-io`` (see ``zoo.perf.quantize``). ONNX and
OpenVINO IR go through Keras' ``model.export`` (``zoo.perf.portable``). BatchNorm is folded
first unless ``--no-fold``. Every option is checked, and the output folder tried, before the
slow conversion; the file is written atomically, so a failure leaves none behind.
"""

from __future__ import annotations

HELP = "export a model (registry name or .keras file) to TFLite/LiteRT (float or quantized), ONNX or OpenVINO"

FORMATS = {"tflite": ".tflite", "onnx": ".onnx", "openvino": ".xml"}


# zoo.perf.quantize.DEFAULT_CALIBRATION_IMAGES, written out: `zoo COMMAND --help` imports no
# Keras (tests/test_export.py checks the two agree).
CALIBRATION_IMAGES_HELP = 200


def add_arguments(parser) -> None:
    parser.add_argument("target", help="a registered model name or a saved .keras file")
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument("--tflite", metavar="OUT", help="write a TFLite/LiteRT file (.tflite)")
    out.add_argument("--onnx", metavar="OUT", help="write an ONNX file (.onnx); needs tf2onnx and onnx")
    out.add_argument("--openvino", metavar="OUT", help="write OpenVINO IR (.xml, and .bin beside it); needs openvino")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--int8", action="store_const", dest="mode", const="int8",
                      help="TFLite full-integer quantization (int8 weights and activations); needs --calibration")
    mode.add_argument("--float16", action="store_const", dest="mode", const="float16",
                      help="TFLite with float16 weights")
    mode.add_argument("--dynamic-range", action="store_const", dest="mode", const="dynamic-range",
                      help="TFLite with int8 weights and float activations")
    parser.add_argument("--calibration", metavar="DATASET[:SPLIT]",
                        help="images that set the int8 activation ranges (a dataset name or folder; split: train)")
    parser.add_argument("--calibration-images", type=int, metavar="N",
                        help=f"how many calibration images, a seeded sample (default {CALIBRATION_IMAGES_HELP})")
    parser.add_argument("--per-tensor", action="store_true",
                        help="one weight scale per tensor instead of per channel (--int8, --dynamic-range)")
    parser.add_argument("--integer-io", choices=("int8", "uint8"),
                        help="integer input and output instead of float32 (--int8 only)")
    parser.add_argument("--set", action="append", metavar="KNOB=VALUE", help="builder knob (names only)")
    parser.add_argument("--no-fold", action="store_true", help="keep BatchNorm layers as they are")


def check_options(args) -> tuple[str, str]:
    """(format, output path) after checking that the options fit together; nothing is loaded."""
    fmt = next(f for f in FORMATS if getattr(args, f))
    mode = args.mode or "float32"
    if fmt != "tflite" and (args.mode or args.per_tensor or args.integer_io or args.calibration):
        used = next(o for o, v in (("--" + mode, args.mode), ("--per-tensor", args.per_tensor),
                                   ("--integer-io", args.integer_io), ("--calibration", args.calibration)) if v)
        raise ValueError(f"{used} applies to --tflite only, not to --{fmt}")
    if mode == "int8" and not args.calibration:
        raise ValueError("--int8 needs --calibration DATASET[:SPLIT]: the images that set the int8 activation ranges")
    if args.calibration and mode != "int8":
        raise ValueError("--calibration applies to --int8 only (float16 and dynamic-range need no images)")
    if args.calibration_images is not None:
        if not args.calibration:
            raise ValueError("--calibration-images needs --calibration DATASET[:SPLIT]")
        if args.calibration_images < 1:
            raise ValueError(f"--calibration-images expects an integer >= 1, got {args.calibration_images}")
    if args.per_tensor and mode not in ("int8", "dynamic-range"):
        raise ValueError("--per-tensor applies to --int8 or --dynamic-range only")
    if args.integer_io and mode != "int8":
        raise ValueError("--integer-io applies to --int8 only (only a fully quantized model takes integers)")
    return fmt, getattr(args, fmt)


def parse_calibration(text: str) -> tuple[str, str]:
    """``DATASET[:SPLIT]`` -> (dataset, split); the split defaults to train (never calibrate on test)."""
    name, sep, split = text.rpartition(":")
    if sep and name and split and "/" not in split:
        return name, split
    return text, "train"


def load_calibration(text: str, count: int, model):
    """The calibration images for ``model`` from ``DATASET[:SPLIT]``: ``count`` of them, a seeded
    sample, at the model's input size, preprocessed as the model expects."""
    import math

    from zoo.data import Subset, load_dataset
    from zoo.perf.quantize import calibration_images, input_kind

    height, width = model.input_shape[1:3]
    if height is None or height != width:
        raise ValueError(f"--calibration needs a model with a fixed square input, this one takes {model.input_shape}")
    name, split = parse_calibration(text)
    # Decode only what the sample needs: about count / classes images per class.
    per_class = max(1, math.ceil(count / max(1, model.output_shape[-1])))
    dataset = load_dataset(name, split=split, image_size=int(height), subset=Subset(per_class=per_class, seed=0))
    return calibration_images(dataset, count, inputs=input_kind(model)), f"{name}:{split}"


def run(args) -> int:
    from zoo.cli import load_or_build, parse_set
    from zoo.perf.export import check_output
    from zoo.perf.quantize import DEFAULT_CALIBRATION_IMAGES, input_kind

    fmt, out = check_options(args)
    path = check_output(out, FORMATS[fmt], f"--{fmt}")  # an unwritable path fails before converting
    model = load_or_build(args.target, parse_set(args.set))  # bad names/knobs fail here, before converting
    fold = not args.no_fold
    try:
        if fmt == "tflite":
            from zoo.perf import export_tflite

            mode = args.mode or "float32"
            options, note = {}, ""
            if mode == "int8":
                count = args.calibration_images or DEFAULT_CALIBRATION_IMAGES
                options["calibration"], source = load_calibration(args.calibration, count, model)
                options["io"] = args.integer_io or "float32"
                note = f", calibrated on {len(options['calibration'])} images of {source}, {options['io']} I/O"
            if args.per_tensor:
                options["per_channel"] = False
            if mode in ("int8", "dynamic-range"):
                note = f", {'per-tensor' if args.per_tensor else 'per-channel'} weights" + note
            size = len(export_tflite(model, path, fold=fold, mode=mode, **options))
            what = mode + note
        elif fmt == "onnx":
            from zoo.perf import export_onnx

            size, what = len(export_onnx(model, path, fold=fold)), "float32"
        else:
            from zoo.perf import export_openvino

            export_openvino(model, path, fold=fold)
            size, what = path.stat().st_size + path.with_suffix(".bin").stat().st_size, "float32, with its .bin"
    except ModuleNotFoundError as err:  # an optional package: one line saying which and how to install
        raise ValueError(str(err)) from err
    takes = {"imagenet": "ImageNet-normalised floats", "0-255": "0-255 RGB"}[input_kind(model)]
    print(f"wrote {path} ({size / 2**20:.2f} MiB, {what}; input {model.input_shape}, {takes})")
    return 0
