"""``zoo readme``: refresh the generated tables embedded in README.md (see zoo.experiment.readme)."""

HELP = "copy the generated results tables into README.md between their <!-- zoo:embed --> markers"


def add_arguments(parser):
    parser.add_argument("--readme", default="README.md", help="the README to update (default README.md)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if the README differs from the files it embeds")


def run(args) -> int:
    import sys
    from pathlib import Path

    from zoo.experiment.readme import embed, embedded_paths
    from zoo.experiment.report import write_atomic

    readme = Path(args.readme)
    if not readme.is_file():
        raise FileNotFoundError(f"no such README: {readme}")
    text = readme.read_text()
    fresh = embed(text, readme.parent)
    paths = ", ".join(embedded_paths(text)) or "none"
    if args.check:
        if fresh != text:
            print(f"{readme} is stale: rerun `zoo readme` (embeds {paths})", file=sys.stderr)
            return 1
        print(f"{readme} matches {paths}")
        return 0
    if fresh != text:
        write_atomic(readme, fresh)
    print(f"{readme}: {'updated' if fresh != text else 'already up to date'} ({paths})")
    return 0
