"""``zoo fidelity``: write results/fidelity.md, the short CIFAR-10 ranking against the full-data ladder's."""

HELP = ("compare the short-schedule CIFAR-10 ranking with the full-data ladder's: Kendall tau, the pairs "
        "that flip, claim f at the longer schedule (results/fidelity.md)")


def add_arguments(parser):
    from zoo.bench.fidelity import DEFAULT_FULL, DEFAULT_OUT, DEFAULT_SHORT

    parser.add_argument("--short", metavar="DIR", default=DEFAULT_SHORT,
                        help=f"the short-schedule results directory (default: {DEFAULT_SHORT})")
    parser.add_argument("--full", metavar="DIR", default=DEFAULT_FULL,
                        help=f"the full-data ladder's results directory (default: {DEFAULT_FULL})")
    parser.add_argument("--out", metavar="FILE", default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")


def run(args) -> int:
    from zoo.bench.fidelity import fidelity_report
    from zoo.experiment.report import write_report

    text, fid = fidelity_report(args.short, args.full, args.out)
    out = write_report(args.out, text)
    k = fid.kendall
    print(f"ladder: {fid.finished} of {fid.planned} configurations finished; "
          f"{len(fid.pairs)} paired with the short table")
    print("Kendall tau-b: " + ("undefined (fewer than 2 paired configurations)" if k.tau is None and k.n < 2 else
                               "undefined (all tied)" if k.tau is None else
                               f"{k.tau:.3f} ({k.concordant} concordant, {k.discordant} discordant); "
                               f"{len(fid.flips)} pair(s) flip"))
    print(f"\nwritten: {out}")
    return 0
