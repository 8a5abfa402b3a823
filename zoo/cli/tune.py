"""``zoo tune SPEC``: a keras-tuner search over a model's knobs within a cost budget."""

HELP = "search a model's knobs (keras-tuner) for the best accuracy within a MAC/params/latency budget"


def add_arguments(parser):
    parser.add_argument("spec", help="a tuning job file, e.g. tuning/quick.toml")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="start a chief oracle and N local worker processes (keras-tuner's "
                             "distributed mode on 127.0.0.1) instead of searching in this process")
    parser.add_argument("--runs-dir", default="runs/tuning",
                        help="working folder: keras-tuner state and TensorBoard logs (default runs/tuning)")
    parser.add_argument("--results-dir", default="results/tuning",
                        help="where <job>.md/.csv/.png go (default results/tuning)")
    parser.add_argument("--data-dir", default=None, help="image folder root (default $ZOO_DATA_DIR)")
    parser.add_argument("--restart", action="store_true",
                        help="discard the job's finished trials and start over (default: resume)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from finished trials")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the before-search budget check (the --workers launcher has done it)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-trial tables")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show training progress")


def run(args) -> int:
    import os

    from zoo.tune.spec import load_spec

    spec = load_spec(args.spec)  # cheap checks first: no TensorFlow yet
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from zoo.tune.kt_private import dist_utils

    from zoo.tune.report import write_report
    from zoo.tune.search import project_dir, run_search

    verbose = 0 if args.quiet else 2 if args.verbose else 1
    if args.report_only:
        project = project_dir(spec, args.runs_dir)
        if not (project / "job.json").exists():
            raise FileNotFoundError(f"no tuning job {spec.name!r} in {args.runs_dir}; run `zoo tune {args.spec}` first")
        print(f"report: {write_report(spec, project, args.results_dir)}")
        return 0

    if args.workers:
        if dist_utils.has_chief_oracle():
            raise ValueError("--workers starts its own cluster; unset KERASTUNER_TUNER_ID/"
                             "KERASTUNER_ORACLE_IP/KERASTUNER_ORACLE_PORT or drop --workers")
        return _launch(spec, args, verbose)

    project = run_search(spec, args.runs_dir, data_dir=args.data_dir, check=not args.no_check,
                         restart=args.restart, verbose=verbose)
    if dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle():
        return 0  # a worker: the chief writes the report
    print(f"report: {write_report(spec, project, args.results_dir)}")
    return 0


def _launch(spec, args, verbose) -> int:
    from zoo.tune.distributed import run_local_cluster
    from zoo.tune.report import write_report

    if args.workers < 1:
        raise ValueError(f"zoo tune: invalid --workers={args.workers!r}; allowed: an integer >= 1")
    code, project = run_local_cluster(spec, args.workers, args.runs_dir, args.results_dir,
                                      data_dir=args.data_dir, restart=args.restart, quiet=verbose == 0)
    if code:
        return code
    print(f"report: {write_report(spec, project, args.results_dir)}")
    return 0
