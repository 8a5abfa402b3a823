"""``zoo conv-types``: MACs versus measured time for each convolution type (results/conv-types.md)."""

from __future__ import annotations

HELP = "time each convolution type at fixed layer sizes: where FLOPs and speed part ways (results/conv-types.md)"


def add_arguments(parser) -> None:
    parser.add_argument("--case", action="append", metavar="SxSxIN->OUT[,K=k]",
                        help="layer size (repeatable); default 56x56x128->128 and 14x14x512->512, K=3")
    parser.add_argument("--batch", type=int, default=None, help="images per call (default 8)")
    parser.add_argument("--quick", action="store_true", help="few rounds (smoke tests)")
    parser.add_argument("--out", default="results", help="folder for conv-types.md/.csv (default results)")


def run(args) -> int:
    import shlex
    import sys
    from pathlib import Path

    from zoo.perf import conv_types as ct

    cases = [ct.parse_case(c) for c in args.case] if args.case else list(ct.DEFAULT_CASES)
    batch = ct.DEFAULT_BATCH if args.batch is None else args.batch
    if batch < 1:
        raise ValueError(f"--batch must be an integer >= 1, got {batch}")
    command = "zoo conv-types " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
        if sys.argv[1:2] == ["conv-types"] else "zoo conv-types"
    path = ct.run_conv_types(cases, batch, args.quick, Path(args.out), command.strip(),
                             progress=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True))
    print(f"wrote {path} and {path.with_suffix('.csv')}")
    return 0
