"""``zoo summary MODEL``: per-layer parameters, MACs and receptive field of a saved or registered model."""

HELP = "per-layer params, MACs and receptive field of a .keras file or a registered model"


def add_arguments(parser):
    parser.add_argument("model", help="a saved model (PATH.keras) or a registered name (see 'zoo list')")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="builder knob for a registered name, e.g. --set groups=3 --set input_shape=[32,32,3]")
    parser.add_argument("--input-shape", metavar="H,W,C", default=None,
                        help="cost at another input shape without rebuilding, e.g. 160,160,3")
    parser.add_argument("--top", type=int, metavar="N", default=None, help="show only the N layers with most MACs")
    parser.add_argument("--json", action="store_true", help="machine-readable output (all rows and totals)")


def parse_shape(text: str | None):
    if text is None:
        return None
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"invalid --input-shape={text!r}; allowed: positive integers like 224,224,3")
    return shape


def is_model_file(target: str) -> bool:
    """What ``load_or_build`` loads from disk rather than builds from the registry."""
    from pathlib import Path

    return target.endswith(".keras") or Path(target).exists()


def run(args) -> int:
    import json

    from zoo.cli import load_or_build, parse_set

    if args.top is not None and args.top < 1:
        raise ValueError(f"invalid --top={args.top}; allowed: an integer >= 1")
    input_shape = parse_shape(args.input_shape)
    knobs = parse_set(args.set)
    if input_shape is not None and not is_model_file(args.model):
        # The network built from these knobs must be able to downsample the new shape: refuse
        # it as zoo.build would, naming the minimum (a .keras file gets the cost model's error).
        from zoo.registry import check_input_size

        check_input_size(args.model, input_shape, knobs)
    model = load_or_build(args.model, knobs)

    from zoo.cost import analyze

    report = analyze(model, input_shape=input_shape)
    if args.json:
        out = report.to_dict()
        if args.top is not None:
            out["rows"] = [r.to_dict() for r in report.top(args.top)]
        print(json.dumps(out, indent=2))
    else:
        print(report.format_table(top=args.top))
    return 0
