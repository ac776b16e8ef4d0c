"""Threads with a raised nice value for calls that keep a CPU busy for seconds, and the limit in
front of them.

An RSA-4096 key pair generation runs for one to several seconds with the GIL released. On a gRPC
worker thread it competes with short calls on equal terms, so on a machine with few cores a
GenerateRandom waits behind it for a scheduler time slice. ``LowPriorityExecutor`` runs such
calls on threads whose nice value is raised: Linux's scheduler then gives the short calls the CPU
as soon as they wake up, and the long call gets whatever is left.

The gRPC worker thread of a slow call stays blocked until the call ends, also while the call waits
for a low-priority thread. ``SlowCallLimiter`` therefore admits at most ``threads + queue_size``
slow calls at once and rejects the rest at once (``SlowCallRejected``), so slow calls can never
hold more than that many gRPC workers; the server adds that many threads to its pool
(``grpc_server.server``). A queued call whose client cancels it, or whose deadline passes,
leaves the queue and its work never starts (``SlowCallCancelled``).
"""

import logging
import os
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Callable, TypeVar

from ep11core.constants import CKM

logger = logging.getLogger(__name__)

Result = TypeVar("Result")

# Nice 10 has about a tenth of the scheduler weight of nice 0 under Linux CFS.
NICE_INCREMENT = 10

# Each call in progress occupies one worker thread of the gRPC thread pool, also while a slow call
# waits for a low-priority thread. The server's pool has this many workers plus the capacity of
# its SlowCallLimiter, so at least this many stay free of slow calls. Calls beyond the free
# workers wait in the queue of the gRPC server.
DEFAULT_MAX_WORKERS = 32

# Slow calls that may wait for a low-priority thread at once; more are rejected.
DEFAULT_QUEUE_SIZE = 128

# The mechanisms whose GenerateKey, GenerateKeyPair, SignSingle or DeriveKey call runs on the
# low-priority threads. The engine calls were timed in-process, 2 to 5 runs each, on a shared
# 2-CPU KVM guest with OpenSSL 3.0. RSA key pairs took 0.13 to 0.5 s at 2048 bits and 1.5 to
# 6.9 s at 4096 bits (X9.31: 0.4 to 2.7 s). DSA parameters took 0.5 s at 2048 and 1.2 to 2.7 s
# at 3072 bits. CKM_IBM_EC_AGGREGATE took 0.46 ms per BLS signature (9.1 s for 20,000), so a
# 64 MiB request would run for minutes. Every other key or key pair generation took at most
# 10 ms (a DSA-3072 key pair), BLS sign and verify at most 60 ms, and SHA-256 of a 64 MiB
# request 0.1 s.
SLOW_MECHANISMS = frozenset(
    {
        CKM.RSA_PKCS_KEY_PAIR_GEN,
        CKM.RSA_X9_31_KEY_PAIR_GEN,
        CKM.DSA_PARAMETER_GEN,
        CKM.IBM_EC_AGGREGATE,
    }
)

# A full queue logs one warning, and then at most one per this many seconds with the count.
REJECTION_LOG_INTERVAL_SECONDS = 10.0


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
    """Runs calls on up to ``workers`` threads with a raised nice value.

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

    def submit(self, function: Callable[..., Result], *args) -> "futures.Future[Result]":
        """Queue ``function(*args)`` for a low-priority thread and return its future."""
        return self._executor.submit(function, *args)

    def call(self, function: Callable[..., Result], *args) -> Result:
        """Run ``function(*args)`` on a low-priority thread and return or raise its outcome."""
        return self.submit(function, *args).result()

    def shutdown(self) -> None:
        """Stop the threads after the calls in progress; queued calls are cancelled."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class SlowCallRejected(Exception):
    """A slow call rejected because ``threads + queue_size`` slow calls were in progress."""


class SlowCallCancelled(Exception):
    """A slow call that ended before its work started, because its client went away."""


@dataclass(frozen=True)
class SlowCallCounts:
    """Counters of a ``SlowCallLimiter``: calls in progress now, and totals since it started."""

    admitted: int  # slow calls in progress: waiting for a thread or running
    started: int  # calls whose work started
    cancelled: int  # calls whose client went away before their work started
    rejected: int  # calls rejected because the queue was full


class SlowCallLimiter:
    """The admission limit and the low-priority threads of the slow calls of gRPC handlers.

    At most ``threads`` run at once and ``queue_size`` more wait; ``call`` rejects any call
    beyond that with ``SlowCallRejected`` before it waits. ``threads`` 0 means one per CPU.
    """

    def __init__(
        self,
        threads: int = 0,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        nice_increment: int = NICE_INCREMENT,
    ):
        if threads < 0:
            raise ValueError(f"threads must be 0 (one per CPU) or more, got {threads}")
        if queue_size < 0:
            raise ValueError(f"queue_size must be 0 or more, got {queue_size}")
        self.executor = LowPriorityExecutor(threads, nice_increment)
        self.threads = self.executor.workers
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._admitted = 0
        self._started = 0
        self._cancelled = 0
        self._rejected = 0
        self._rejected_since_log = 0
        self._last_rejection_log = None

    @property
    def capacity(self) -> int:
        """The maximum number of slow calls in progress at once, running or waiting."""
        return self.threads + self.queue_size

    def counts(self) -> SlowCallCounts:
        """Return a consistent snapshot of the counters."""
        with self._lock:
            return SlowCallCounts(self._admitted, self._started, self._cancelled, self._rejected)

    def call(self, context, function: Callable[..., Result], *args) -> Result:
        """Run ``function(*args)`` for the gRPC call ``context`` and return or raise its outcome.

        Raises ``SlowCallRejected`` when the limiter is full and ``SlowCallCancelled`` when the
        call ends before a thread takes it. Work that has started runs to its end, also if the
        client goes away meanwhile.
        """
        self._admit()
        try:
            future = self.executor.submit(self._start, context, function, args)
            # The callback runs when the RPC ends for any reason; cancelling a future whose work
            # has started or finished does nothing. False means the RPC has already ended.
            if not context.add_callback(future.cancel):
                future.cancel()
            try:
                return future.result()
            except (futures.CancelledError, SlowCallCancelled):
                with self._lock:
                    self._cancelled += 1
                raise SlowCallCancelled(
                    "the client cancelled the call, or its deadline passed, before its work "
                    "started"
                ) from None
        finally:
            with self._lock:
                self._admitted -= 1

    def _admit(self) -> None:
        with self._lock:
            if self._admitted < self.capacity:
                self._admitted += 1
                return
            self._rejected += 1
            self._rejected_since_log += 1
            now = time.monotonic()
            due = (
                self._last_rejection_log is None
                or now - self._last_rejection_log >= REJECTION_LOG_INTERVAL_SECONDS
            )
            if due:
                rejected, self._rejected_since_log = self._rejected_since_log, 0
                self._last_rejection_log = now
        if due:
            logger.warning(
                "rejected %d slow call(s) since the last report, because %d were in progress "
                "(%d threads, queue of %d); raise --slow-call-queue or --slow-call-threads if "
                "clients need more",
                rejected,
                self.capacity,
                self.threads,
                self.queue_size,
            )
        raise SlowCallRejected(
            f"the server already runs {self.threads} and queues {self.queue_size} slow calls "
            "(RSA key pair or DSA parameter generation, BLS aggregation); retry later"
        )

    def _start(self, context, function, args):
        # A future cancelled in the queue never gets here. This check catches a client that went
        # away after a thread took its call, before the callback could cancel the future.
        if not context.is_active():
            raise SlowCallCancelled()
        with self._lock:
            self._started += 1
        return function(*args)

    def shutdown(self) -> None:
        """Stop the threads after the calls in progress; queued calls are cancelled."""
        self.executor.shutdown()
