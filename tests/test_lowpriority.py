"""LowPriorityExecutor: results, errors and the nice value of its threads."""

import os
import sys
import threading

import pytest

from grpc_server.lowpriority import LowPriorityExecutor


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
