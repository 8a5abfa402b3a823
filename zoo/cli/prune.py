"""``zoo prune MODEL.keras``: remove channels (dead ones, or the least important) and save a smaller model."""

HELP = "prune channels of a saved model (exactly-dead ones, or by BN |gamma| / filter L1 and a ratio); optional fine-tune"


def add_arguments(parser):
    parser.add_argument("model", help="a saved .keras model")
    parser.add_argument("--out", required=True, metavar="FILE", help="where to save the pruned .keras model")
    parser.add_argument("--dead", action="store_true",
                        help="remove the channels that are exactly zero wherever a conv/Dense reads them "
                             "(outputs unchanged), measured on --samples images of --data")
    parser.add_argument("--criterion", choices=["bn_gamma", "l1"],
                        help="remove the --ratio least important output channels of every conv by this score")
    parser.add_argument("--ratio", type=float, help="share of each conv's channels to remove with --criterion")
    parser.add_argument("--remove", action="append", metavar="LAYER:I,J", default=[],
                        help="remove these output channels of LAYER (repeatable)")
    parser.add_argument("--data", default="cifar10", help="dataset for --dead (default: cifar10)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--data-dir", metavar="DIR", help="image-folder datasets (default: $ZOO_DATA_DIR)")
    parser.add_argument("--fine-tune", metavar="SUITE", help="then train with this bench suite's data and recipe "
                                                             "(zoo.training.train_and_evaluate)")


def _parse_remove(items):
    out = {}
    for item in items:
        name, sep, idx = item.rpartition(":")
        try:
            out.setdefault(name, []).extend(int(i) for i in idx.split(",") if i.strip())
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ValueError(f"zoo prune: invalid --remove={item!r}; allowed: LAYER:I,J,... e.g. stem_conv:0,3")
    return out


def run(args) -> int:

    from zoo.analysis import apply_pruning, plan_pruning
    from zoo.cli import load_or_build
    from zoo.cost import analyze

    remove = _parse_remove(args.remove)
    if not (args.dead or args.criterion or remove):
        raise ValueError("zoo prune: choose what to remove: --dead, --criterion with --ratio, or --remove")
    if args.criterion and args.ratio is None:
        raise ValueError("zoo prune: --criterion needs --ratio (a number in (0, 1))")
    if not args.out.endswith(".keras"):
        raise ValueError(f"zoo prune: invalid --out={args.out!r}; allowed: a path ending in .keras")
    data_dir = args.data_dir
    model = load_or_build(args.model)
    images = None
    if args.dead:
        from zoo.analysis.data import load_sample

        images, _ = load_sample(args.data, split=args.split, count=args.samples, image_size=model.input_shape[1],
                                data_dir=data_dir)
    plan = plan_pruning(model, dead_on=images, criterion=args.criterion, ratio=args.ratio, remove=remove or None)
    print(plan.summary())
    pruned = apply_pruning(plan)
    before, after = analyze(model), analyze(pruned)
    print(f"params {before.params:,} -> {after.params:,}   MACs {before.macs:,} -> {after.macs:,}")
    if args.fine_tune:
        from zoo.bench.spec import load_suite
        from zoo.experiment.dataset import load_splits
        from zoo.training import train_and_evaluate

        suite = load_suite(args.fine_tune)
        splits = load_splits(suite.dataset, suite.path, data_dir)
        result = train_and_evaluate(pruned, splits.train, splits.val, suite.training, seed=suite.run.seeds[0])
        print(f"fine-tuned: top-1 {result['top1']:.4f} after {result['epochs']} epochs")
    pruned.save(args.out)
    print(f"saved: {args.out}")
    return 0
