"""``zoo list [PATTERN]``: registered models and their knobs."""

HELP = "list registered models (shell wildcards) and their knobs"


def add_arguments(parser):
    parser.add_argument("pattern", nargs="?", default="*", help="shell wildcard, e.g. 'mobilenet*'")
    parser.add_argument("--knobs", action="store_true", help="show every knob with its default and allowed values")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    import json

    from zoo.registry import COMMON_KNOBS, get_spec, list_models

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; try 'zoo list'")
    if args.json:
        out = {n: {"family": get_spec(n).family,
                   "knobs": {k: {"default": repr(v.default), "allowed": v.allowed}
                             for k, v in get_spec(n).knobs.items()}} for n in names}
        print(json.dumps(out, indent=2))
        return 0
    for n in names:
        spec = get_spec(n)
        own = {k: v for k, v in spec.knobs.items() if k not in COMMON_KNOBS}
        print(f"{n:24s} {spec.family:14s} " + ", ".join(f"{k}={v.default!r}" for k, v in own.items()))
        if args.knobs:
            for knob in spec.knobs.values():
                print(f"    {knob}")
    if not args.knobs:
        print("\ncommon knobs: " + ", ".join(COMMON_KNOBS) + "  (zoo list --knobs for allowed values)")
    return 0
