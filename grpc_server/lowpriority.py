"""Threads with a raised nice value for calls that keep a CPU busy for seconds.

An RSA-4096 key pair generation runs for one to several seconds with the GIL released. On a gRPC
worker thread it competes with short calls on equal terms, so on a machine with few cores a
GenerateRandom waits behind it for a scheduler time slice. ``LowPriorityExecutor`` runs such
calls on threads whose nice value is raised: Linux's scheduler then gives the short calls the CPU
as soon as they wake up, and the long call gets whatever is left.
"""

import logging
import os
import sys
import threading
from concurrent import futures
from typing import Callable, TypeVar

logger = logging.getLogger(__name__)

Result = TypeVar("Result")

# Nice 10 has about a tenth of the scheduler weight of nice 0 under Linux CFS.
NICE_INCREMENT = 10


def _raise_nice_value(increment: int) -> None:
    # On Linux, PRIO_PROCESS with a thread id changes that thread alone. Elsewhere it would
    # change the whole process, so other platforms keep the default priority.
    if not sys.platform.startswith("linux"):
        return
    thread_id = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(current + increment, 19))
    except OSError as error:
        logger.warning("cannot raise the nice value of a slow-call thread: %s", error)


class LowPriorityExecutor:
    """Runs calls on up to ``workers`` threads with a raised nice value, waiting for each result.

    Calls beyond ``workers`` at once wait in a queue. A raised nice value cannot be lowered again
    without privileges, so these threads serve slow calls only and are never returned to a
    general pool.
    """

    def __init__(self, workers: int = 0, nice_increment: int = NICE_INCREMENT):
        self.workers = workers or os.cpu_count() or 1
        self._executor = futures.ThreadPoolExecutor(
            max_workers=self.workers,
            thread_name_prefix="grep11-slow",
            initializer=_raise_nice_value,
            initargs=(nice_increment,),
        )

    def call(self, function: Callable[..., Result], *args) -> Result:
        """Run ``function(*args)`` on a low-priority thread and return or raise its outcome."""
        return self._executor.submit(function, *args).result()

    def shutdown(self) -> None:
        """Stop the threads after the calls in progress; queued calls are cancelled."""
        self._executor.shutdown(wait=False, cancel_futures=True)
