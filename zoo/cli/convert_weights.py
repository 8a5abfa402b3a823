"""``zoo convert-weights NAME [--tag TAG] [--from FILE]``: a torchvision/timm checkpoint -> Keras cache.

Run it with the PyTorch env's ``zoo`` (``scripts/setup-torch-env``; PyTorch is needed for
this command only):

    .venv-torch/bin/zoo convert-weights shufflenet_v2_x1_0                  # downloads torchvision's file
    .venv-torch/bin/zoo convert-weights shufflenet_v2_x1_0 --from shufflenetv2_x1-5666bf0f80.pth
    .venv-torch/bin/zoo convert-weights mobilenet_v2 --tag torchvision_v2
    .venv-torch/bin/zoo convert-weights --list

then ``zoo.build("shufflenet_v2_x1_0", weights="imagenet")`` loads it from
``<KERAS_HOME>/models/zoo/``. The torch side runs in its own process, so the main
environment works too given ``--torch-python .venv-torch/bin/python``.
"""

from __future__ import annotations

HELP = "convert a torchvision/timm ImageNet checkpoint into Keras weights for zoo.build(..., weights=...)"


def add_arguments(parser) -> None:
    parser.add_argument("name", nargs="?", help="a zoo name with a torch checkpoint (see --list)")
    parser.add_argument("--tag", help="which checkpoint of NAME (default: its first; see --list)")
    parser.add_argument("--from", dest="checkpoint", metavar="FILE",
                        help="a state_dict file (.pth/.pt/.bin or .safetensors); default: download the published one")
    parser.add_argument("--out", metavar="PATH.weights.h5", help="default: the cache file weights='imagenet' reads")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the check of the Keras model against the source library's forward pass")
    parser.add_argument("--torch-python", metavar="PYTHON",
                        help="interpreter with PyTorch for reading the checkpoint (default: this one)")
    parser.add_argument("--list", action="store_true", help="list the convertible checkpoints and their cache state")


def run(args) -> int:
    from zoo.weights.convert import convert, torch_checkpoints
    from zoo.weights.load import converted_path

    if args.list or not args.name:
        for c in torch_checkpoints():
            state = "converted" if converted_path(c).is_file() else "not converted"
            print(f"{c.name:20s} --tag {c.tag:15s} {c.source} {c.source_id}  [{state}]")
        return 0 if args.list else 2
    result = convert(args.name, args.tag, checkpoint=args.checkpoint, out=args.out, verify=not args.no_verify,
                     torch_python=args.torch_python)
    check = "not verified" if result.max_abs_diff is None else f"max |keras - torch| = {result.max_abs_diff:.2g}"
    print(f"wrote {result.path} ({result.tensors} tensors; {check})")
    return 0
