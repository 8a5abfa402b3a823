"""``zoo export NAME|PATH.keras --tflite OUT.tflite``: a float32 TFLite/LiteRT file (BN folded)."""

from __future__ import annotations

HELP = "export a model (registry name or .keras file) to TFLite/LiteRT, BatchNorm folded"


def add_arguments(parser) -> None:
    parser.add_argument("target", help="a registered model name or a saved .keras file")
    parser.add_argument("--tflite", required=True, metavar="OUT", help="where to write the .tflite file")
    parser.add_argument("--set", action="append", metavar="KNOB=VALUE", help="builder knob (names only)")
    parser.add_argument("--no-fold", action="store_true", help="keep BatchNorm layers as they are")


def run(args) -> int:
    from pathlib import Path

    from zoo.cli import load_or_build, parse_set

    if not args.tflite.endswith(".tflite"):
        raise ValueError(f"--tflite expects a path ending in .tflite, got {args.tflite!r}")
    model = load_or_build(args.target, parse_set(args.set))  # bad names/knobs fail here, before converting
    from zoo.perf import export_tflite

    flatbuffer = export_tflite(model, Path(args.tflite), fold=not args.no_fold)
    print(f"wrote {args.tflite} ({len(flatbuffer) / 2**20:.1f} MiB, float32, input {model.input_shape})")
    return 0
