"""Accuracy-versus-cost benchmarks: suite files, the resumable runner, the published tables.

    >>> from zoo.bench import load_suite, run_suite
    >>> run_suite("benchmarks/quick.toml")          # same as `zoo bench benchmarks/quick.toml`

Latency (``zoo.experiment.latency.measure_latency``) and Pareto fronts
(``zoo.experiment.report.pareto_front``) live in the experiment layer beneath.
"""

from zoo.bench.spec import RunConfig, Suite, expand_grid, load_suite  # noqa: F401


def run_suite(*args, **kwargs):
    """See ``zoo.bench.runner.run_suite`` (imported lazily: it needs the data and training code)."""
    from zoo.bench.runner import run_suite as run

    return run(*args, **kwargs)
