"""Accuracy-versus-cost benchmarks: suite files, the resumable runner, latency, Pareto fronts.

    >>> from zoo.bench import load_suite, run_suite, measure_latency
    >>> run_suite("benchmarks/quick.toml")          # same as `zoo bench benchmarks/quick.toml`
"""

from zoo.bench.latency import measure_latency  # noqa: F401
from zoo.bench.results import pareto_front  # noqa: F401
from zoo.bench.spec import RunConfig, Suite, expand_grid, load_suite  # noqa: F401


def run_suite(*args, **kwargs):
    """See ``zoo.bench.runner.run_suite`` (imported lazily: it needs the data and training code)."""
    from zoo.bench.runner import run_suite as _run_suite

    return _run_suite(*args, **kwargs)
