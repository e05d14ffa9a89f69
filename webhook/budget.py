"""A time and CPU budget per review, enforced by stopping the review's thread.

The API server gives up on a webhook after the configuration's timeoutSeconds
and fails the write; a review still computing after that only burns CPU the
next reviews need. So each review runs under a budget below that timeout: a
watchdog thread raises ReviewOverBudget in the review's thread once its wall
time or its own CPU time passes the budget (CPython's asynchronous exceptions,
delivered between bytecodes). The review's caller turns that into a denial.

ReviewOverBudget derives from BaseException so that the `except Exception`
guards of the code it interrupts (the values engine, jsonschema) cannot
swallow it. A long call into C code (one regular expression match, one
json.loads) is not interrupted: the exception arrives when it returns.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CHECK_INTERVAL_SECONDS = 0.05

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int


class ReviewOverBudget(BaseException):
    """Raised inside a review's thread when its budget is spent."""


@dataclass(eq=False)
class _Running:
    thread_id: int
    cpu_clock: int
    wall_deadline: float
    cpu_deadline: float
    fired: bool = False


class ReviewBudget:
    """Runs reviews under `seconds` of wall time and of their thread's CPU time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Condition()
        self._running: dict[int, _Running] = {}
        self._watchdog_pid = 0

    @contextmanager
    def limit(self) -> Iterator[None]:
        """Run the body under the budget; raises ReviewOverBudget when it ran out."""
        thread_id = threading.get_ident()
        cpu_clock = time.pthread_getcpuclockid(thread_id)
        running = _Running(
            thread_id,
            cpu_clock,
            time.monotonic() + self.seconds,
            time.clock_gettime(cpu_clock) + self.seconds,
        )
        with self._lock:
            self._ensure_watchdog()
            self._running[thread_id] = running
            self._lock.notify()
        try:
            yield
        finally:
            with self._lock:
                del self._running[thread_id]
                if running.fired:
                    # Fired but not delivered yet: it must not hit whatever runs next.
                    _set_async_exc(thread_id, ctypes.py_object())
        if running.fired:
            # The body caught nothing and finished just as the budget ran out: the
            # review is over budget all the same.
            raise ReviewOverBudget()

    def _ensure_watchdog(self) -> None:
        # Threads do not survive gunicorn's fork: one watchdog per worker process.
        if self._watchdog_pid != os.getpid():
            self._watchdog_pid = os.getpid()
            threading.Thread(target=self._watch, name="review-budget", daemon=True).start()

    def _watch(self) -> None:
        while True:
            with self._lock:
                while not self._running:
                    self._lock.wait()
                now = time.monotonic()
                for running in self._running.values():
                    if not running.fired and self._spent(running, now):
                        running.fired = True
                        _set_async_exc(running.thread_id, ctypes.py_object(ReviewOverBudget))
            time.sleep(CHECK_INTERVAL_SECONDS)

    @staticmethod
    def _spent(running: _Running, now: float) -> bool:
        if now >= running.wall_deadline:
            return True
        try:
            return time.clock_gettime(running.cpu_clock) >= running.cpu_deadline
        except OSError:  # the thread is gone
            return False
