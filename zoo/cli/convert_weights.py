"""``zoo convert-weights NAME... | --all [--tag TAG] [--from FILE]``: torchvision/timm checkpoints -> Keras cache.

Run it with the PyTorch env's ``zoo`` (``scripts/setup-torch-env``; PyTorch is needed for
this command only):

    .venv-torch/bin/zoo convert-weights shufflenet_v2_x1_0                  # downloads torchvision's file
    .venv-torch/bin/zoo convert-weights shufflenet_v2_x1_0 --from shufflenetv2_x1-5666bf0f80.pth
    .venv-torch/bin/zoo convert-weights mobilenet_v2 --tag torchvision_v2
    .venv-torch/bin/zoo convert-weights --all                               # every one, one torch process
    .venv-torch/bin/zoo convert-weights --list

then ``zoo.build("shufflenet_v2_x1_0", weights="imagenet")`` loads it from
``<KERAS_HOME>/models/zoo/``. The torch side runs in its own process, so the main
environment works too given ``--torch-python .venv-torch/bin/python``.
"""

from __future__ import annotations

import sys

HELP = "convert torchvision/timm ImageNet checkpoints into Keras weights for zoo.build(..., weights=...)"


def add_arguments(parser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="zoo names with a torch checkpoint (see --list)")
    parser.add_argument("--all", action="store_true", help="every torch checkpoint of the table (downloads)")
    parser.add_argument("--tag", help="which checkpoint of NAME (default: its first; see --list)")
    parser.add_argument("--from", dest="checkpoint", metavar="FILE",
                        help="a state_dict file (.pth/.pt/.bin or .safetensors) for the one NAME; "
                             "default: download the published checkpoint")
    parser.add_argument("--out", metavar="PATH.weights.h5", help="default: the cache file weights='imagenet' reads")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the check of the Keras model against the source library's forward pass")
    parser.add_argument("--torch-python", metavar="PYTHON",
                        help="interpreter with PyTorch for reading checkpoints (default: this one)")
    parser.add_argument("--list", action="store_true", help="list the convertible checkpoints and their cache state")


def run(args) -> int:
    from zoo.weights.convert import convert_many, torch_checkpoints
    from zoo.weights.load import converted_path

    if args.list:
        for c in torch_checkpoints():
            state = "converted" if converted_path(c).is_file() else "not converted"
            print(f"{c.name:20s} --tag {c.tag:15s} {c.source} {c.source_id}  [{state}]")
        return 0
    if args.all:
        if args.names or args.tag or args.checkpoint or args.out:
            raise ValueError("--all converts every checkpoint: no NAME, --tag, --from or --out with it")
        requests = [(c.name, c.tag, None) for c in torch_checkpoints()]
    elif not args.names:
        raise ValueError("name a checkpoint (see --list), or pass --all")
    else:
        if len(args.names) > 1 and (args.tag or args.checkpoint or args.out):
            raise ValueError("--tag, --from and --out apply to one NAME")
        requests = [(name, args.tag, args.checkpoint) for name in args.names]
    results = convert_many(requests, out=args.out, verify=not args.no_verify, torch_python=args.torch_python)
    failed = 0
    for (name, _, _), result in zip(requests, results):
        if isinstance(result, Exception):
            failed += 1
            print(f"zoo convert-weights: {name}: error: {result}", file=sys.stderr)
            continue
        check = "not verified" if result.max_abs_diff is None else f"max |keras - torch| = {result.max_abs_diff:.2g}"
        print(f"wrote {result.path} ({result.ckpt.id}: {result.tensors} tensors; {check})")
    return 2 if failed else 0
