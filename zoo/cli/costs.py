"""``zoo costs``: our parameter and MAC counts next to the papers' tables -> results/costs.md + .csv."""

HELP = "compare zoo.cost.analyze with the papers' params/MACs; writes results/costs.md and costs.csv"


def add_arguments(parser):
    parser.add_argument("--out", default="results", metavar="DIR", help="folder for costs.md and costs.csv")
    parser.add_argument("--only", default="*", metavar="PATTERN",
                        help="only models matching this shell wildcard (files are then not written)")


def run(args) -> int:
    import sys

    from zoo.survey.costs import compare_figures, format_count, write_costs

    rows = compare_figures(args.only, progress=lambda f: print(f"  counting {f.config()}", file=sys.stderr))
    for r in rows:
        f = r.figure
        status = {True: "ok", False: "OUTSIDE", None: "missing"}[r.ok]
        ratio = "" if r.ratio is None else f"{r.ratio:.3f}"
        print(f"{status:8s} {f.config():45s} {f.quantity:17s} paper {f.printed:>11s}  ours "
              f"{format_count(r.ours):>15s}  {ratio}")
    if args.only == "*":
        path = write_costs(rows, args.out)
        print(f"wrote {path} and {path.with_suffix('.csv')}")
    return 1 if any(r.ok is False for r in rows) else 0
