"""``zoo claims``: write results/claims.md, the survey's claims with their measurements and verdicts."""

HELP = "check the survey's claims: analytic costs now, accuracy from the claims-* bench suites (results/claims.md)"


def add_arguments(parser):
    parser.add_argument("--results", metavar="DIR", default="results",
                        help="where the suites' results live and claims.md goes (default: results)")
    parser.add_argument("--out", metavar="FILE", help="output file (default: RESULTS/claims.md)")
    parser.add_argument("--measure", choices=["dead"],
                        help="first train and measure claims g and h (benchmarks/claims-dead.toml's models; CPU-heavy; resumes)")
    parser.add_argument("--data-dir", metavar="DIR", help="image-folder datasets (default: $ZOO_DATA_DIR)")


def run(args) -> int:
    from pathlib import Path

    from zoo.experiment.dataset import data_dir
    from zoo.experiment.report import write_report
    from zoo.survey.claims import DEAD_SUITE, claims_markdown, evaluate_claims, measure_dead

    results = Path(args.results)
    if args.measure == "dead":
        measure_dead(Path("benchmarks") / f"{DEAD_SUITE}.toml", results / DEAD_SUITE, data_dir(args.data_dir),
                     progress=True)
    claims = evaluate_claims(results)
    out = write_report(Path(args.out) if args.out else results / "claims.md", claims_markdown(claims))
    for c in claims:
        print(f"{c.key}. {c.verdict:45s} {c.title}")
    print(f"\nwritten: {out}")
    return 0
