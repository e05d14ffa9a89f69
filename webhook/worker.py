"""A gunicorn worker whose threads only ever compute: the poller does the waiting.

gunicorn's threaded worker (gthread) hands every new connection to a pool
thread, which waits up to 5 s for a first byte, then does the TLS handshake
and reads the request on a blocking socket. With a handful of threads, a few
dozen idle or trickling connections, reopened as they close, keep every thread
waiting, and the API server's reviews queue behind them until it gives up.

This worker keeps gthread's poller, keep-alive handling and graceful stop, and
moves the waiting into the poller: the TLS handshake is done non-blocking there,
then the whole request (head and body) is read into a buffer there. Only a
complete request reaches a thread. A connection that has not finished its
handshake, or sent its whole request, within `io_timeout` seconds is closed.
An idle connection costs one file descriptor and a small buffer, so a worker
holds thousands (`max_connections`) without a thread noticing.
"""

from __future__ import annotations

import contextlib
import errno
import re
import selectors
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn import sock as gunicorn_sock
from gunicorn.workers.gthread import TConn, ThreadWorker

# Real request heads are a few hundred bytes; gunicorn itself allows about 8 KiB a line.
MAX_HEAD_BYTES = 64 * 1024
READ_CHUNK = 256 * 1024
_HEAD_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(
    rb"\r\ncontent-length[ \t]*:[ \t]*([0-9]{1,12})[ \t]*(?=\r\n|$)", re.IGNORECASE
)
# A chunked body, or one the client sends only after "100 Continue", is read by the
# thread (bounded by the socket's deadline): the API server sends neither.
_READ_IN_THREAD = re.compile(
    rb"\r\n(transfer-encoding[ \t]*:|expect[ \t]*:[ \t]*100-continue)", re.IGNORECASE
)


class RequestTooLarge(ValueError):
    """The request head is longer than any client of a webhook sends."""


def request_complete(buffer: bytes | bytearray, *, max_body_bytes: int) -> bool:
    """Whether `buffer` holds a whole request head and enough of its body.

    A body longer than `max_body_bytes` only needs one byte past the limit for
    the app to refuse it. A chunked or expected-continue body is left to the
    thread. Raises RequestTooLarge for a head without end.
    """
    end = buffer.find(_HEAD_END)
    if end < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise RequestTooLarge(f"request head is longer than {MAX_HEAD_BYTES} bytes")
        return False
    head = bytes(buffer[:end])
    if _READ_IN_THREAD.search(head):
        return True
    found = _CONTENT_LENGTH.search(head)
    length = int(found.group(1)) if found else 0
    return len(buffer) - (end + len(_HEAD_END)) >= min(length, max_body_bytes + 1)


@dataclass(eq=False)
class _Reading:
    """A connection the poller is reading: its handshake, then one request."""

    conn: TConn
    deadline: float
    handshaken: bool
    buffer: bytearray = field(default_factory=bytearray)
    done: bool = False


class PollingTLSWorker(ThreadWorker):
    """gthread with the TLS handshake and request reading done in the poller."""

    # Set by serve() on a subclass: gunicorn builds workers from the class alone.
    io_timeout: float = 5.0
    max_body_bytes: int = 3 * 1024 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every reading connection gets the same timeout, so this stays sorted by deadline.
        self._readings: deque[_Reading] = deque()

    def accept(self, listener: Any) -> None:
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client, address, listener.getsockname())  # non-blocking
        try:
            conn.sock = gunicorn_sock.ssl_context(self.cfg).wrap_socket(
                client,
                server_side=True,
                do_handshake_on_connect=False,
                suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
            )
        except (OSError, ssl.SSLError):
            self._drop(conn)
            return
        conn.sock.setblocking(False)
        self._read(_Reading(conn, time.monotonic() + self.io_timeout, handshaken=False))

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        # A kept-alive connection woke up: read its next request here too.
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read(_Reading(conn, time.monotonic() + self.io_timeout, handshaken=True))

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        while self._readings and (
            self._readings[0].done
            or self._readings[0].deadline <= now
            or (not self.alive and not self._readings[0].buffer)
        ):
            reading = self._readings.popleft()
            if not reading.done:
                self._close(reading)

    def _read(self, reading: _Reading) -> None:
        self._readings.append(reading)
        self.poller.register(
            reading.conn.sock, selectors.EVENT_READ, partial(self._on_event, reading)
        )
        self._on_event(reading, reading.conn.sock)  # bytes may already be buffered by TLS

    def _on_event(self, reading: _Reading, _fileobj: Any) -> None:
        tls = reading.conn.sock
        try:
            if not reading.handshaken:
                try:
                    tls.do_handshake()
                except ssl.SSLWantReadError:
                    return self._wait_for(reading, selectors.EVENT_READ)
                except ssl.SSLWantWriteError:
                    return self._wait_for(reading, selectors.EVENT_WRITE)
                reading.handshaken = True
                self._wait_for(reading, selectors.EVENT_READ)
            while True:
                try:
                    data = tls.recv(READ_CHUNK)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    return None
                if not data:
                    return self._close(reading)  # the peer left
                reading.buffer += data
                if request_complete(reading.buffer, max_body_bytes=self.max_body_bytes):
                    return self._hand_over(reading)
        except (OSError, ssl.SSLError, RequestTooLarge):
            return self._close(reading)

    def _wait_for(self, reading: _Reading, events: int) -> None:
        self.poller.modify(reading.conn.sock, events, partial(self._on_event, reading))

    def _hand_over(self, reading: _Reading) -> None:
        reading.done = True
        conn = reading.conn
        self.poller.unregister(conn.sock)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.initialized = True
        conn.parser.unreader.unread(bytes(reading.buffer))
        self.enqueue_req(conn)

    def _close(self, reading: _Reading) -> None:
        reading.done = True
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(reading.conn.sock)
        self._drop(reading.conn)

    def _drop(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()
