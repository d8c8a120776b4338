"""Timing helpers the benchmarks share: wall-clock milliseconds per call, and the 95th percentile."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_ms(fn: Callable[[], object], runs: int) -> list[float]:
    """`fn` called `runs` times; each call's duration in milliseconds."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        fn()
        timings.append((time.perf_counter_ns() - started) / 1e6)
    return timings


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]
