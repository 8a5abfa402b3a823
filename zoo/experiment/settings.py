"""Measurement settings shared by every entry point, with ONE set of defaults.

A suite's ``[run]`` and a tuning job's ``[budget]`` both time models; they take the same
keys with the same defaults, parsed here, so a latency in a suite table and a latency a
tuner budgets against are measured the same way unless a file says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from zoo.experiment.specfile import non_negative_int, positive_int

LATENCY_KEYS = {
    "latency_batch": "batch size for the latency measurement (default 1)",
    "throughput_batch": "batch size for the throughput measurement (default 32)",
    "latency_warmup": "untimed calls before timing (default 10)",
    "latency_iters": "timed calls (default 50)",
}


@dataclass(frozen=True)
class LatencySettings:
    """How a model is timed: median/p90 of ``iters`` calls at ``batch`` after ``warmup``."""

    latency_batch: int = 1
    throughput_batch: int = 32
    latency_warmup: int = 10
    latency_iters: int = 50

    @classmethod
    def parse(cls, table: Mapping[str, Any], where: str, path: Path) -> LatencySettings:
        """The latency keys of ``table`` (other keys are the caller's), defaults filled in."""
        values = {f.name: table.get(f.name, f.default) for f in fields(cls)}
        for key in ("latency_batch", "throughput_batch", "latency_iters"):
            positive_int(values[key], f"{where} {key}", path)
        non_negative_int(values["latency_warmup"], f"{where} latency_warmup", path)
        return cls(**values)

    @property
    def throughput_warmup(self) -> int:
        return max(1, self.latency_warmup // 5)

    @property
    def throughput_iters(self) -> int:
        return max(3, self.latency_iters // 5)

    def describe(self) -> str:
        return (f"batch {self.latency_batch}, median/p90 of {self.latency_iters} calls after "
                f"{self.latency_warmup} warm-up, tf.function graph mode; throughput at batch {self.throughput_batch}")
