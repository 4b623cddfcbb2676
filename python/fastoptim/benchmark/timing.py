"""Timing one callable honestly: warm-up, then repeats until a time budget, median and spread."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timing:
    median_s: float
    p10_s: float
    p90_s: float
    repeats: int

    def as_dict(self) -> dict[str, float]:
        return {"median_s": self.median_s, "p10_s": self.p10_s, "p90_s": self.p90_s, "repeats": self.repeats}


def measure(fn: Callable[[], object], *, warmup: int = 3, min_repeats: int = 7, max_repeats: int = 2000,
            budget_s: float = 0.5) -> Timing:
    """Call ``fn`` ``warmup`` times, then at least ``min_repeats`` times and until ``budget_s``
    seconds have passed (at most ``max_repeats``); per-call times, median and 10/90 % points."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < min_repeats or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) * 1e-9)
    times.sort()
    q = statistics.quantiles(times, n=10) if len(times) >= 2 else [times[0]] * 9
    return Timing(statistics.median(times), q[0], q[-1], len(times))


def measure_batched(fn: Callable[[], object], batch: int, **kw) -> Timing:
    """Like :func:`measure` for calls too short to time one by one: each sample times ``batch``
    calls and is divided by ``batch``."""
    def run() -> None:
        for _ in range(batch):
            fn()
    t = measure(run, **kw)
    return Timing(t.median_s / batch, t.p10_s / batch, t.p90_s / batch, t.repeats * batch)


def measure_interleaved(fns: dict[str, Callable[[], object]], *, warmup: int = 3, min_rounds: int = 9,
                        max_rounds: int = 2000, budget_s: float = 1.0, batch: int = 1,
                        settle: int = 1) -> dict[str, Timing]:
    """Time several contenders in rounds, each round calling every contender once (``batch``
    calls) in rotating order, so that drift in the machine's load hits all of them alike.

    Before each timed sample a contender runs ``settle`` untimed calls: the previous
    contender's thread pool (torch and fastoptim each have their own OpenMP runtime) keeps
    spinning for a while after its last call and would otherwise slow the next contender's
    first call, unfairly and at random. The budget is for all contenders together. Returns
    per-contender timings (per call)."""
    names = list(fns)
    for name in names:
        for _ in range(warmup * batch):
            fns[name]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    start = time.perf_counter()
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - start < budget_s):
        order = names[rounds % len(names):] + names[:rounds % len(names)]
        for name in order:
            fn = fns[name]
            for _ in range(settle):
                fn()
            t0 = time.perf_counter_ns()
            for _ in range(batch):
                fn()
            samples[name].append((time.perf_counter_ns() - t0) * 1e-9 / batch)
        rounds += 1
    out = {}
    for name, times in samples.items():
        times.sort()
        q = statistics.quantiles(times, n=10)
        out[name] = Timing(statistics.median(times), q[0], q[-1], len(times) * batch)
    return out
