"""Serve a rotated certificate without restarting anything or dropping a request.

gunicorn asks for an SSL context for every connection it accepts (the
``ssl_context`` hook). `ReloadingContext.current()` answers from a context built
once, and rebuilds it when the certificate or key file changed on disk. A TLS
handshake only happens when a connection opens, so connections already open
keep their session and finish their requests; every new connection gets the new
certificate. No worker restarts, no SIGHUP, no listening socket closed.

Writers replace the files atomically (certs.authority.write_pair, or the
kubelet's symlink swap for a mounted Secret), yet the key and the certificate are
still two files: between the two replacements they may not match. Then the
build fails, the previous context is kept and the next check tries again, so a
half-written pair is never served.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("lostromos.webhook")
FileSignature = tuple[tuple[int, int, int, int], ...]


def file_signature(*paths: Path) -> FileSignature:
    """Changes whenever one of the files is replaced or rewritten (symlinks followed)."""
    signature = []
    for path in paths:
        try:
            status = os.stat(path)
        except OSError:
            signature.append((-1, -1, -1, -1))
        else:
            signature.append((status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns))
    return tuple(signature)


class ReloadingContext:
    """An SSL context that follows its certificate and key files.

    The files are looked at no more often than every `check_seconds`: a stat
    of two files per new connection would be cheap, but a connection storm
    needs no more than one look per second.
    """

    def __init__(
        self,
        certfile: Path,
        keyfile: Path,
        build: Callable[[], ssl.SSLContext],
        *,
        check_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.certfile = Path(certfile)
        self.keyfile = Path(keyfile)
        self._build = build
        self._check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._signature: FileSignature | None = None
        self._checked_at = 0.0
        self._failed_signature: FileSignature | None = None
        self.reloads = 0

    def current(self) -> ssl.SSLContext:
        """The context for a new connection; raises only when no context was ever built."""
        with self._lock:
            now = self._clock()
            if self._context is not None and now - self._checked_at < self._check_seconds:
                return self._context
            self._checked_at = now
            signature = file_signature(self.certfile, self.keyfile)
            if self._context is not None and signature == self._signature:
                return self._context
            try:
                context = self._build()
            except (OSError, ssl.SSLError) as error:
                if self._context is None:
                    raise
                if signature != self._failed_signature:
                    # Usually the moment between the key and the certificate being
                    # replaced; the next check picks up the finished pair.
                    log.warning(
                        "new TLS certificate not loaded yet, serving the previous one: %s",
                        error,
                        extra={"certfile": str(self.certfile)},
                    )
                    self._failed_signature = signature
                return self._context
            if self._context is not None:
                self.reloads += 1
                log.info(
                    "serving a new TLS certificate",
                    extra={"certfile": str(self.certfile), "pid": os.getpid()},
                )
            self._context, self._signature = context, signature
            return context
