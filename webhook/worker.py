"""A gunicorn worker whose threads only ever compute: the poller does the waiting.

gunicorn's threaded worker (gthread) hands every new connection to a pool
thread, which waits up to 5 s for a first byte, then does the TLS handshake
and reads the request on a blocking socket. With a handful of threads, a few
dozen idle or trickling connections, reopened as they close, keep every thread
waiting, and the API server's reviews queue behind them until it gives up.

This worker keeps gthread's poller, keep-alive handling and graceful stop, and
moves the waiting into the poller: the TLS handshake is done non-blocking there,
then the whole request is read into a buffer there, whatever its framing
(Content-Length, chunked, `Expect: 100-continue`; webhook.framing). Only a
complete request reaches a thread, and the thread reads nothing more from the
socket. A connection that has not finished its handshake, or sent its whole
request, within `io_timeout` seconds is answered 408 and closed; a body past
the size limit or with broken framing is answered 400 by the poller itself.
An idle connection costs one file descriptor and a small buffer, so a worker
holds thousands (`max_connections`) without a thread noticing.
"""

from __future__ import annotations

import contextlib
import errno
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

from webhook.framing import CONTINUE, BadFraming, RequestTooLarge, frame
from webhook.review import error_body

READ_CHUNK = 256 * 1024


def plain_answer(status: str, body: bytes) -> bytes:
    """A whole HTTP answer the poller sends itself before closing the connection."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


@dataclass(eq=False)
class _Reading:
    """A connection the poller is reading: its handshake, then one request."""

    conn: TConn
    deadline: float
    handshaken: bool
    buffer: bytearray = field(default_factory=bytearray)
    done: bool = False
    continued: bool = False  # "100 Continue" sent
    drain_left: int = -1  # refused: bytes still read and dropped before closing (-1: not refused)


_TIMEOUT_BODY = error_body("the request was not sent in time")


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
                if reading.buffer and reading.drain_left < 0:  # begun, not finished in time
                    self._send(reading, plain_answer("408 Request Timeout", _TIMEOUT_BODY))
                self._close(reading)

    def _read(self, reading: _Reading) -> None:
        self._readings.append(reading)
        self.poller.register(
            reading.conn.sock, selectors.EVENT_READ, partial(self._on_event, reading)
        )
        self._on_event(reading, reading.conn.sock)  # bytes may already be buffered by TLS

    def _on_event(self, reading: _Reading, _fileobj: Any) -> None:  # noqa: PLR0911 - one state machine
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
                if reading.drain_left >= 0:
                    reading.drain_left -= len(data)
                    if reading.drain_left < 0:
                        return self._close(reading)
                    continue
                reading.buffer += data
                framed = frame(reading.buffer, max_body_bytes=self.max_body_bytes)
                if framed.complete:
                    return self._hand_over(reading, framed.request)
                if framed.send_continue and not reading.continued:
                    reading.continued = True
                    self._send(reading, CONTINUE)
        except (RequestTooLarge, BadFraming) as refused:
            # Answered now; what the client still sends (up to twice the limit, within
            # its deadline) is dropped so it can read the answer instead of a reset.
            self._send(reading, plain_answer("400 Bad Request", error_body(str(refused))))
            reading.drain_left = 2 * self.max_body_bytes
            return None
        except (OSError, ssl.SSLError):
            return self._close(reading)

    def _wait_for(self, reading: _Reading, events: int) -> None:
        self.poller.modify(reading.conn.sock, events, partial(self._on_event, reading))

    @staticmethod
    def _send(reading: _Reading, data: bytes) -> None:
        # A few hundred bytes fit any socket buffer; a peer that does not read
        # them loses them when the connection closes.
        with contextlib.suppress(OSError, ssl.SSLError):
            reading.conn.sock.send(data)

    def _hand_over(self, reading: _Reading, request: bytes) -> None:
        reading.done = True
        conn = reading.conn
        self.poller.unregister(conn.sock)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.initialized = True
        conn.parser.unreader.unread(request)
        self.enqueue_req(conn)

    def _close(self, reading: _Reading) -> None:
        reading.done = True
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(reading.conn.sock)
        self._drop(reading.conn)

    def _drop(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()
