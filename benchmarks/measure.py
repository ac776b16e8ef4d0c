"""Throughput measurement in interleaved rounds.

Absolute rates drift with whatever else the machine runs, so competitors are measured in
alternating short rounds (A, B, C, A, B, C, ...) and each reports the median of its rounds. A
drift then hits every competitor alike, and the ratios stay meaningful.
"""

import statistics
import time
from typing import Callable, Dict, List, Optional

# Calls between two clock reads; small enough that a round overshoots its time by little.
BATCH = 8


def rate(call: Callable[[], object], seconds: float) -> float:
    """Return calls per second of ``call``, run in batches for at least ``seconds``."""
    count = 0
    started = time.perf_counter()
    end = started + seconds
    while True:
        for _ in range(BATCH):
            call()
        count += BATCH
        now = time.perf_counter()
        if now >= end:
            return count / (now - started)


def interleaved_rates(
    calls: Dict[str, Optional[Callable[[], object]]], rounds: int, seconds: float
) -> Dict[str, Optional[float]]:
    """Measure each call in ``rounds`` alternating rounds; return the median rate of each.

    A name whose call is None is skipped and reported as None.
    """
    samples: Dict[str, List[float]] = {name: [] for name in calls}
    for name, call in calls.items():
        if call is not None:
            call()  # warm-up: first-call costs such as lazy key parsing stay out of the figure
    for _ in range(rounds):
        for name, call in calls.items():
            if call is not None:
                samples[name].append(rate(call, seconds))
    return {
        name: statistics.median(values) if values else None for name, values in samples.items()
    }


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """Return numerator / denominator rounded to 3 places, or None when either is missing."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)
