"""Tuning jobs: keras-tuner searches over a model's knobs under MAC/params/latency budgets.

    >>> from zoo.tune import load_spec, run_job
    >>> spec = load_spec("tuning/quick.toml")
    >>> report = run_job(spec)          # results/tuning/quick.md, .csv, .png

``zoo tune SPEC`` is the command-line form; ``tuning/README.md`` describes the file format,
resuming, and scaling out over keras-tuner's distributed mode.
"""

from zoo.tune.spec import Budget, TuneSpec, check_feasible, load_spec  # noqa: F401


def run_job(spec, runs_dir="runs/tuning", results_dir="results/tuning", *, data_dir=None,
            restart=False, verbose=1):
    """Run or resume a job in this process, then write its report; returns the report path."""
    from zoo.tune.report import write_report
    from zoo.tune.search import run_search

    if isinstance(spec, str) or hasattr(spec, "__fspath__"):
        spec = load_spec(spec)
    project = run_search(spec, runs_dir, data_dir=data_dir, restart=restart, verbose=verbose)
    return write_report(spec, project, results_dir)
