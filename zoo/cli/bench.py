"""``zoo bench SUITE``: train and measure a benchmark suite; resumable, one runner per directory."""

HELP = "run a benchmark suite (benchmarks/*.toml): accuracy, params, MACs, latency; resumable"


def add_arguments(parser):
    parser.add_argument("suite", help="suite file (benchmarks/quick.toml) or a shipped suite name (quick)")
    parser.add_argument("--out", metavar="DIR", help="results directory (default: results/<suite name>/)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="folder holding the image-folder datasets (default: $ZOO_DATA_DIR; "
                             "unset: TFDS where the dataset exists there)")
    parser.add_argument("--only", metavar="PATTERN", help="run only models matching a shell wildcard, e.g. 'mobilenet*'")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the suite, the data and every configuration, print the plan, train nothing")
    parser.add_argument("--restart", action="store_true",
                        help="discard earlier results in the output directory and start over")
    parser.add_argument("--retry-failed", action="store_true",
                        help="train again the runs recorded as failed (a diverged loss); by default they are kept")
    parser.add_argument("--fill-checkpoints", action="store_true",
                        help="retrain finished runs whose checkpoint file is missing (rows from before checkpoints "
                             "were kept), replacing their rows; seeded, so the top-1 should repeat")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="train each pending run as a task on a Ray cluster (pip install 'zoo[ray]'): "
                             "ADDRESS as ray.init takes it (HOST:PORT of the head node, or auto); "
                             "none: $RAY_ADDRESS or the cluster `ray start` left on this machine, else a "
                             "Ray instance started here for this run. Resources per run: [run] ray_num_cpus, "
                             "ray_num_gpus, ray_max_retries; see docs-ray.md")
    from zoo.experiment.distribute import STRATEGIES

    parser.add_argument("--strategy", choices=STRATEGIES,
                        help="how each run trains (overrides the suite's [run] strategy; default auto: mirrored over "
                             "the GPUs when there are several, else one device); multi_worker: one run over the "
                             "machines of $TF_CONFIG, each running this same command (README: Scaling out)")


def run(args) -> int:
    import sys

    from zoo.bench.cluster import RayNotInstalledError
    from zoo.bench.lock import RunnerBusyError
    from zoo.bench.runner import TB_DIR, run_suite

    try:
        runner = run_suite(args.suite, out=args.out, data_dir=args.data_dir, only=args.only,
                           dry_run=args.dry_run, restart=args.restart, progress=not args.no_progress,
                           retry_failed=args.retry_failed, ray=args.ray, strategy=args.strategy,
                           fill_checkpoints=args.fill_checkpoints)
    except RunnerBusyError as err:
        print(f"zoo bench: error: {err}", file=sys.stderr)
        return 3
    except RayNotInstalledError as err:
        print(f"zoo bench: error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(runner.describe_plan())
        print("\n(dry run: nothing trained)")
        return 0
    dist = runner.distribution
    if dist is not None and not dist.is_chief:  # its files were temporary: the chief wrote the results
        print(f"zoo bench: {dist.describe()}: trained with the chief; the chief wrote the results")
        return 0
    out = runner.out
    print(runner.reading())
    print(f"\ntable:       {out / 'results.md'}\nrows:        {out / 'results.csv'}\n"
          f"plot:        {out / 'pareto.png'}\nenvironment: {out / 'env.json'}\n"
          f"models:      {out / 'checkpoints'}/<run id>.keras (zoo predict, zoo.load_model)\n"
          f"TensorBoard: tensorboard --logdir {out / TB_DIR}")
    return 1 if getattr(runner, "lost", None) else 0  # --ray: runs whose retries ran out have no row yet
