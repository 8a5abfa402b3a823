"""``zoo latency``: the zoo's models against keras.applications, PyTorch and the deployment
runtimes (ONNX Runtime, OpenVINO, int8 TFLite), timed interleaved."""

from __future__ import annotations

HELP = ("time the zoo's inference paths against keras.applications, torchvision/timm, ONNX Runtime, OpenVINO "
        "and int8 TFLite (results/latency.md)")


def add_arguments(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="few iterations, batch 1 only (CI, smoke tests)")
    parser.add_argument("--models", metavar="PATTERN", help="comma-separated globs over the benchmarked zoo models")
    parser.add_argument("--batches", default=None, help="comma-separated batch sizes (default 1,32; --quick: 1)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch counterparts")
    parser.add_argument("--no-deploy", action="store_true",
                        help="skip the deployment runtimes (ONNX Runtime, OpenVINO, int8 TFLite)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="square input side for every model (default: each model's own, 224 / 299)")
    parser.add_argument("--out", default="results", help="folder for latency.md and latency.csv (default results)")
    parser.add_argument("--training-results", default="results/cifar10/results.csv",
                        help="published benchmark table to read training images/s from")


def run(args) -> int:
    import shlex
    import sys
    from pathlib import Path

    from zoo.perf import latency as lat

    models = lat.select_models(args.models)  # input errors before anything is built
    batches = lat.parse_batches(args.batches) if args.batches else ((1,) if args.quick else lat.DEFAULT_BATCHES)
    if args.image_size is not None and args.image_size < 32:
        raise ValueError(f"--image-size must be an integer >= 32, got {args.image_size}")
    use_torch, why_not = (False, "") if args.no_torch else lat.torch_available()
    if why_not:
        print(f"zoo latency: timing without PyTorch: {why_not}", file=sys.stderr)
    deploy, deploy_missing = ((), {}) if args.no_deploy else lat.deploy_available()
    for runtime, why in deploy_missing.items():
        print(f"zoo latency: timing without {runtime}: {why}", file=sys.stderr)
    from zoo.experiment.provenance import intra_op_threads

    setup = lat.Setup(models=models, batches=batches, quick=args.quick, torch=use_torch,
                      image_size=args.image_size, threads=intra_op_threads(),
                      deploy=deploy, deploy_missing=deploy_missing)
    command = "zoo latency " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["latency"] \
        else "zoo latency"
    path = lat.run_benchmark(setup, Path(args.out), command.strip(), Path(args.training_results),
                             progress=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True))
    print(f"wrote {path} and {path.with_suffix('.csv')}")
    return 0
