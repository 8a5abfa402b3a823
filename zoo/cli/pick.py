"""``zoo pick [RESULTS] --max-macs N``: the best configuration of a results table within a budget."""

HELP = "the best configurations of a results table within a MACs / params / latency budget"


def add_arguments(parser):
    parser.add_argument("results", nargs="?", default=None,
                        help="a results directory or its results.csv (results/cifar10, a `zoo bench --out` "
                             "directory) or a published table's name (cifar10, tiny-imagenet-10); "
                             "default: results/cifar10")
    parser.add_argument("--max-macs", metavar="N", help="multiply-accumulates per image, e.g. 20e6")
    parser.add_argument("--max-params", metavar="N", help="parameters, e.g. 1e6")
    parser.add_argument("--max-latency-ms", metavar="X",
                        help="batch-1 latency in ms, as measured on the table's machine (see its header)")
    parser.add_argument("--max-int8-latency-ms", metavar="X",
                        help="batch-1 latency of the int8 TFLite file (suites with [run] deploy); ranks by its top-1")
    parser.add_argument("--top", metavar="K", help="show only the K best (default: all that fit)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    # zoo.pick reads CSV and Markdown only: no Keras, no TensorFlow on this path.
    import json

    from zoo import pick as zp

    top = None
    if args.top is not None:
        try:
            top = int(args.top)
        except ValueError:
            top = 0
        if top < 1:
            raise ValueError(f"invalid --top={args.top!r}; allowed: an integer >= 1")
    budgets = {key: getattr(args, key) for key in zp.BUDGETS}
    for key, value in budgets.items():  # before reading the table: a typo answers at once
        if value is not None:
            zp.parse_budget(zp.BUDGETS[key].option, value)
    table = zp.load_table(args.results)
    result = zp.pick(table.rows, **budgets)
    if args.json:
        print(json.dumps(zp.to_dict(table, result, top), indent=2))
    else:
        print(zp.render_text(table, result, top), end="")
    return 0 if result.fits else 1
