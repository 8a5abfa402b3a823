"""Interleaved timing of several forward passes: the fair way to compare on a shared, noisy CPU.

Timing A fully and then B lets a background job that starts halfway favour one of them.
``time_interleaved`` instead runs round-robin: every round times a few calls of each
candidate in turn, so slow phases of the machine hit all of them alike; the median (and
p90) over all rounds is reported, and ratios between candidates are the robust result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Timed:
    """One thing to time: ``prepare()`` returns a zero-argument call that runs one forward pass
    and waits for its result (so a timing covers the whole computation)."""

    key: str
    prepare: Callable[[], Callable[[], Any]]
    info: dict[str, Any] = field(default_factory=dict)
    times_ms: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_ms(self) -> float | None:
        return float(np.median(self.times_ms)) if self.times_ms else None

    @property
    def p90_ms(self) -> float | None:
        return float(np.percentile(self.times_ms, 90)) if self.times_ms else None


STABLE_SPREAD = 1.3  # warm-up ends when the last 3 calls are within 30% of each other


def warm_up(call: Callable[[], Any], minimum: int, maximum: int) -> int:
    """Untimed calls until timings settle (at least ``minimum``, at most ``maximum``); returns the count.

    A fixed count is not enough: with TensorFlow loaded in the same process, PyTorch's first
    ~5-8 CPU calls measured 50-100x slower than its steady state (1.2 s vs 14 ms for
    MobileNet v1, torch 2.14 + TF 2.21), and TF's first call traces the graph.
    """
    times: list[float] = []
    for _ in range(max(minimum, maximum)):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
        last = times[-3:]
        if len(times) >= max(minimum, 3) and max(last) <= STABLE_SPREAD * min(last):
            break
    return len(times)


def time_interleaved(candidates: Sequence[Timed], *, rounds: int, calls_per_round: int = 1,
                     warmup: int = 2, max_warmup: int = 30,
                     progress: Callable[[str], None] | None = None) -> Sequence[Timed]:
    """Fill each candidate's ``times_ms``: warm-up calls (``warm_up``), then ``rounds`` round-robin rounds.

    A candidate whose preparation or call raises is kept with ``error`` set (and no times),
    so one broken counterpart does not cost the whole run. The visiting order rotates every
    round so no candidate always runs right after the same neighbour.
    """
    calls = {}
    for cand in candidates:
        try:
            call = cand.prepare()
            warm_up(call, warmup, max_warmup)
            calls[cand.key] = call
        except Exception as err:  # reported in the table, not fatal
            cand.error = f"{type(err).__name__}: {err}"[:200]
        if progress:
            progress(f"prepared {cand.key}" + (f" (failed: {cand.error})" if cand.error else ""))
    live = [c for c in candidates if c.key in calls]
    for r in range(rounds):
        shift = r % max(1, len(live))
        for cand in live[shift:] + live[:shift]:
            call = calls[cand.key]
            for _ in range(calls_per_round):
                start = time.perf_counter()
                call()
                cand.times_ms.append(1000.0 * (time.perf_counter() - start))
        if progress:
            progress(f"round {r + 1}/{rounds}")
    return candidates
