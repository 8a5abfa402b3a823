"""``zoo finetune-report [RESULTS_DIR]``: results/finetune.md, scratch against fine-tuned runs of a suite."""

HELP = "from scratch versus fine-tuned top-1 of the same architectures in a fine-tuning suite's results"


def add_arguments(parser):
    from zoo.bench.finetune import DEFAULT_OUT, DEFAULT_RESULTS

    parser.add_argument("results", nargs="?", default=DEFAULT_RESULTS,
                        help=f"the suite's `zoo bench` results directory (default: {DEFAULT_RESULTS})")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"the Markdown report; its CSV goes beside it (default: {DEFAULT_OUT})")


def run(args) -> int:
    import shlex

    from zoo.bench.finetune import DEFAULT_OUT, DEFAULT_RESULTS, write
    from zoo.experiment.dataset import relative

    command = ["zoo", "finetune-report"]
    if args.results != DEFAULT_RESULTS:
        command.append(relative(args.results))
    if args.out != DEFAULT_OUT:
        command += ["--out", relative(args.out)]
    path = write(args.results, args.out, shlex.join(command))
    print(f"wrote {path} and {path.with_suffix('.csv')}")
    return 0
