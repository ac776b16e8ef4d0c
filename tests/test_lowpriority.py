"""LowPriorityExecutor and SlowCallLimiter: results, errors, sizes and the nice value of threads."""

import os
import sys
import threading

import pytest

from grpc_server.lowpriority import LowPriorityExecutor, SlowCallCounts, SlowCallLimiter


@pytest.fixture
def executor():
    slow_calls = LowPriorityExecutor(workers=2, nice_increment=5)
    yield slow_calls
    slow_calls.shutdown()


def test_call_returns_result(executor):
    assert executor.call(pow, 2, 10) == 1024


def test_call_raises_error(executor):
    with pytest.raises(ZeroDivisionError):
        executor.call(lambda: 1 / 0)


def test_call_runs_on_other_thread(executor):
    assert executor.call(threading.get_ident) != threading.get_ident()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux only")
def test_threads_have_raised_nice(executor):
    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = executor.call(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert worker == min(caller + 5, 19)
    # The calling thread keeps its own priority.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller


@pytest.mark.parametrize("threads, queue_size, message", [
    (-1, 0, "threads must be 0 \\(one per CPU\\) or more, got -1"),
    (1, -1, "queue_size must be 0 or more, got -1"),
])
def test_limiter_rejects_negative_sizes(threads, queue_size, message):
    with pytest.raises(ValueError, match=message):
        SlowCallLimiter(threads, queue_size)


def test_limiter_capacity_counts_threads_and_queue():
    limiter = SlowCallLimiter(threads=3, queue_size=5)
    try:
        assert limiter.threads == 3
        assert limiter.capacity == 8
        assert limiter.counts() == SlowCallCounts(admitted=0, started=0, cancelled=0, rejected=0)
    finally:
        limiter.shutdown()
