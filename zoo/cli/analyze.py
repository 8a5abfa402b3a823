"""``zoo analyze MODEL``: dead channels (with their cost and receptive field) and channel correlation."""

HELP = "dead channels per layer (params/MACs they cost, receptive field) and channel correlation of a model"


def add_arguments(parser):
    parser.add_argument("model", help="a saved .keras model (trained), or a registry name (built untrained)")
    parser.add_argument("--data", default="cifar10", help="dataset name or folder for the sample (default: cifar10)")
    parser.add_argument("--split", default="train", help="split to sample (default: train)")
    parser.add_argument("--samples", type=int, default=256, help="images in the sample (default: 256)")
    parser.add_argument("--data-dir", metavar="DIR", help="image-folder datasets (default: $ZOO_DATA_DIR)")
    parser.add_argument("--mean-abs", type=float, default=1e-6, help="zero: mean |activation| <= this")
    parser.add_argument("--variance", type=float, default=1e-8, help="constant: variance <= this")
    parser.add_argument("--gamma", type=float, default=1e-3, help="flag BatchNorm |gamma| <= this")
    parser.add_argument("--weight-norm", type=float, default=1e-6, help="flag filter L1 norm <= this")
    parser.add_argument("--correlation", nargs="*", metavar="LAYER",
                        help="also correlate these conv layers' channels (no names: every grouped conv)")
    parser.add_argument("--groups", type=int, help="partition for --correlation of standard layers")
    parser.add_argument("--tensorboard", metavar="DIR", help="write scalars, histograms and correlation images here")
    parser.add_argument("--json", metavar="FILE", help="write the per-layer report as JSON")


def run(args) -> int:
    import json

    import keras

    from zoo.analysis import Thresholds, channel_correlation, dead_channels
    from zoo.analysis.data import load_sample
    from zoo.cli import load_or_build

    thresholds = Thresholds(args.mean_abs, args.variance, args.gamma, args.weight_norm)  # checks values first
    if args.samples < 1:
        raise ValueError(f"zoo analyze: invalid --samples={args.samples}; allowed: an integer >= 1")
    model = load_or_build(args.model)
    size = model.input_shape[1]
    images, _ = load_sample(args.data, split=args.split, count=args.samples, image_size=size,
                            data_dir=args.data_dir)
    report = dead_channels(model, images, thresholds)
    print(report.format_table())
    correlations = []
    if args.correlation is not None:
        names = args.correlation or [layer.name for layer in model.layers
                                     if isinstance(layer, keras.layers.Conv2D) and getattr(layer, "groups", 1) > 1]
        for name in names:
            c = channel_correlation(model, name, images[:64], groups=args.groups)
            correlations.append(c)
            print(c.summary())
    if args.tensorboard:
        from zoo.analysis import correlation, dead

        dead.write_tensorboard(report, args.tensorboard)
        if correlations:
            correlation.write_tensorboard(correlations, args.tensorboard)
        print(f"TensorBoard: tensorboard --logdir {args.tensorboard}")
    if args.json:
        from zoo.experiment.report import write_atomic

        out = {**report.to_dict(), "correlation": [c.to_dict() for c in correlations]}
        write_atomic(args.json, json.dumps(out, indent=2))
    return 0
