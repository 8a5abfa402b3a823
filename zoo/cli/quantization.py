"""``zoo quantization [RESULTS_DIR ...]``: results/quantization.md from suites' deploy columns."""

HELP = "float32 versus int8 TFLite top-1, size and latency of every run of suites that list [run] deploy"


def add_arguments(parser):
    from zoo.bench.quantization import DEFAULT_OUT, DEFAULT_RESULTS

    parser.add_argument("results", nargs="*", default=list(DEFAULT_RESULTS),
                        help=f"`zoo bench` results directories (default: {' '.join(DEFAULT_RESULTS)})")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"the Markdown report; its CSV goes beside it "
                                                           f"(default: {DEFAULT_OUT})")


def run(args) -> int:
    import shlex

    from zoo.bench.quantization import DEFAULT_OUT, DEFAULT_RESULTS, write
    from zoo.experiment.dataset import relative

    command = ["zoo", "quantization"]
    if list(args.results) != list(DEFAULT_RESULTS):
        command += [relative(r) for r in args.results]
    if args.out != DEFAULT_OUT:
        command += ["--out", relative(args.out)]
    path = write(args.results, args.out, shlex.join(command))
    print(f"wrote {path} and {path.with_suffix('.csv')}")
    return 0
