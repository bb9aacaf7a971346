"""Timing and the one-line-per-figure output."""

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import reset_queries


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    @property
    def p50(self) -> float:
        return self.percentile(0.50)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def paired(ours: Callable[[], object], raw: Callable[[], object], *, runs: int, warmup: int) -> tuple[Samples, Samples]:
    """Time both sides alternately (so noise and cache state hit them alike), after warm-up."""
    for _ in range(warmup):
        ours()
        raw()
    a, b = Samples(), Samples()
    for i in range(runs):
        # Alternate which side goes first so neither always inherits the other's warm cache.
        order = ((ours, a), (raw, b)) if i % 2 == 0 else ((raw, b), (ours, a))
        for fn, samples in order:
            reset_queries()
            start = time.perf_counter()
            fn()
            samples.seconds.append(time.perf_counter() - start)
    return a, b


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    reset_queries()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}ms"


def verdict(ok: bool) -> str:
    return "OK" if ok else "BELOW TARGET"


def line(text: str) -> None:
    print(f"bench {text}", flush=True)


def note(text: str) -> None:
    """Progress and context, on stderr so stdout holds only the figures."""
    print(f"  .. {text}", file=sys.stderr, flush=True)
