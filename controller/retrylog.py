"""How a failing reconcile is logged: once, at WARNING, naming the object and its
release, and never as a traceback for what is not a bug.

During an API-server outage every key fails on every retry; logging each
retry, with a traceback, buries the one line that matters. So a key's failure
is logged at WARNING when it first happens or its message changes, its
retries (with their backoff) at DEBUG, and its recovery at INFO. Only an
unexpected exception (a bug) carries a traceback, and only the first time.
"""

from __future__ import annotations

import logging
import threading

from lostromos.neterrors import brief_error, is_transient


class RetryLog:
    def __init__(self, logger: logging.Logger, kind: str) -> None:
        self.log = logger
        self.kind = kind
        self._last: dict[str, str] = {}
        self._lock = threading.Lock()

    def failed(
        self, key: str, error: BaseException, delay: float, release: str | None, *, expected: bool
    ) -> None:
        """`expected`: a failure the reconciler reports (helm failed, a conflict)."""
        known = expected or is_transient(error)
        text = str(error) if expected else brief_error(error)
        with self._lock:
            first = self._last.get(key) != text
            self._last[key] = text
        extra = {"kind": self.kind, "object": key, "release": release or ""}
        if not first:
            self.log.debug(
                "reconcile failed again, retrying in %.1fs: %s", delay, text, extra=extra
            )
        elif known:
            self.log.warning("reconcile failed, retrying in %.1fs: %s", delay, text, extra=extra)
        else:
            self.log.error(
                "reconcile crashed, retrying in %.1fs: %s", delay, text, extra=extra, exc_info=error
            )

    def succeeded(self, key: str, release: str | None) -> None:
        with self._lock:
            failing = self._last.pop(key, None)
        if failing is not None:
            self.log.info(
                "reconcile succeeded after failing",
                extra={"kind": self.kind, "object": key, "release": release or ""},
            )

    def forget(self, key: str) -> None:
        """The key stopped failing without succeeding (it is Stalled): no recovery line."""
        with self._lock:
            self._last.pop(key, None)
