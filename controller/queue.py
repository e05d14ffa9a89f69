"""A work queue with client-go's guarantees.

- A key waiting in the queue is there once, however often it is added.
- A key being processed is never handed to a second worker; if it is added
  meanwhile, it is queued again when the first worker calls `done`.
- Failures back off per key, exponentially with jitter, until `forget`.
- `add_after` holds a key back (resync, requeue-after), without duplicating it.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator

from lostromos.backoff import backoff_delay


class ShutDown(Exception):
    """The queue was shut down; workers should exit."""


class WorkQueue:
    def __init__(
        self,
        *,
        base_delay: float = 0.5,
        max_delay: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Condition()
        self._ready: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiting: list[tuple[float, int, Hashable]] = []
        self._waiting_until: dict[Hashable, float] = {}
        self._sequence = itertools.count()
        self._failures: dict[Hashable, int] = {}
        self._shutting_down = False

    # -- adding ---------------------------------------------------------------

    def add(self, key: Hashable) -> None:
        with self._lock:
            if self._shutting_down or key in self._dirty:
                return
            self._dirty.add(key)
            if key not in self._processing:
                self._ready.append(key)
                self._lock.notify()

    def add_after(self, key: Hashable, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._lock:
            if self._shutting_down:
                return
            due = self._clock() + delay
            # An earlier wake-up for the same key already covers this one.
            if self._waiting_until.get(key, float("inf")) <= due:
                return
            self._waiting_until[key] = due
            heapq.heappush(self._waiting, (due, next(self._sequence), key))
            self._lock.notify()

    def add_rate_limited(self, key: Hashable) -> float:
        """Requeue after a failure; returns the delay chosen."""
        with self._lock:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        delay = backoff_delay(
            failures + 1, base=self._base_delay, cap=self._max_delay, jitter=self._jitter
        )
        self.add_after(key, delay)
        return delay

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def failures(self, key: Hashable) -> int:
        with self._lock:
            return self._failures.get(key, 0)

    # -- taking ---------------------------------------------------------------

    def get(self, timeout: float | None = None) -> Hashable | None:
        """The next key, or None on timeout. Raises ShutDown once drained and shut down."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._lock:
            while True:
                self._promote_due()
                if self._ready:
                    key = self._ready.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                if self._shutting_down:
                    raise ShutDown
                if deadline is not None and self._clock() >= deadline:
                    return None
                self._lock.wait(self._next_wait(deadline))

    def taken(self) -> Iterator[str]:
        """The keys a worker takes, one at a time, until the queue is drained and shut down
        (each to be marked done)."""
        while True:
            try:
                key = self.get()
            except ShutDown:
                return
            if key is not None:
                yield str(key)

    def done(self, key: Hashable) -> None:
        with self._lock:
            self._processing.discard(key)
            if key in self._dirty:
                self._ready.append(key)
                self._lock.notify()
            elif self._shutting_down and not self._processing:
                self._lock.notify_all()

    # -- state ----------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._ready)

    def shutdown(self) -> None:
        """Stop handing out delayed keys; workers drain what is ready, then get ShutDown."""
        with self._lock:
            self._shutting_down = True
            self._waiting.clear()
            self._waiting_until.clear()
            self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """After shutdown: wait until no key is being processed."""
        deadline = self._clock() + timeout
        with self._lock:
            while self._processing or self._ready:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    # -- internals ------------------------------------------------------------

    def _promote_due(self) -> None:
        now = self._clock()
        while self._waiting and self._waiting[0][0] <= now:
            due, _, key = heapq.heappop(self._waiting)
            if self._waiting_until.get(key) != due:
                continue  # superseded by an earlier wake-up
            del self._waiting_until[key]
            if key not in self._dirty:
                self._dirty.add(key)
                if key not in self._processing:
                    self._ready.append(key)

    def _next_wait(self, deadline: float | None) -> float | None:
        now = self._clock()
        candidates = []
        if self._waiting:
            candidates.append(self._waiting[0][0] - now)
        if deadline is not None:
            candidates.append(deadline - now)
        return max(0.0, min(candidates)) if candidates else None
