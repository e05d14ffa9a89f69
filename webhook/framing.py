"""Where one HTTP/1.1 request ends, decided in the poller before a thread sees it.

The worker reads bytes as they come and asks `frame()` whether it holds a
whole request. Every body framing a client may use is read here: a
Content-Length body, a chunked body (decoded, and handed on with a
Content-Length, so the thread reads nothing from the socket), and a body that
waits for "100 Continue" (the poller sends it; the header is dropped so the
application does not send it again). A thread therefore never waits for a
client, however slowly it sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Real request heads are a few hundred bytes; gunicorn itself allows about 8 KiB a line.
MAX_HEAD_BYTES = 64 * 1024
MAX_CHUNK_LINE = 1024  # a size in hex and extensions; no client needs more
HEAD_END = b"\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_HEADER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*(.*?)[ \t]*")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(;.*)?")


class RequestTooLarge(ValueError):
    """The head or the body is longer than the webhook accepts: answer 400 and close."""


class BadFraming(ValueError):
    """The request's framing cannot be read: answer 400 and close."""


@dataclass(frozen=True)
class Framed:
    """What the poller does next with the bytes read so far."""

    complete: bool  # hand `request` (and any bytes after it) to a thread
    request: bytes = b""  # the request as the thread should read it
    send_continue: bool = False  # the client waits for "100 Continue" before its body


@dataclass(frozen=True)
class _Head:
    end: int  # index just past the blank line
    lines: list[bytes]  # request line and header lines, without the blank line
    headers: dict[bytes, list[bytes]]  # lower-case name -> values


def frame(buffer: bytes | bytearray, *, max_body_bytes: int) -> Framed:
    """Whether `buffer` holds a whole request, and that request ready for a thread.

    Raises RequestTooLarge for a head without end or a body past
    `max_body_bytes` (declared or chunked), BadFraming for framing HTTP/1.1
    does not allow (both Content-Length and Transfer-Encoding, a coding other
    than chunked, a malformed chunk).
    """
    head = _parse_head(buffer)
    if head is None:
        return Framed(complete=False)
    expects = [v.lower() for v in head.headers.get(b"expect", [])]
    if any(value != b"100-continue" for value in expects):
        raise BadFraming("unsupported Expect header")
    encodings = head.headers.get(b"transfer-encoding", [])
    lengths = head.headers.get(b"content-length", [])
    if encodings and lengths:
        raise BadFraming("both Transfer-Encoding and Content-Length")
    if encodings:
        if b",".join(encodings).replace(b" ", b"").lower() != b"chunked":
            raise BadFraming("a transfer coding other than chunked")
        # (re-decoded as bytes arrive; the API server itself never sends chunked)
        decoded = _dechunk(bytes(buffer[head.end :]), max_body_bytes)
        if decoded is None:
            return Framed(complete=False, send_continue=bool(expects))
        content, rest = decoded
        lines = _without(head.lines, (b"transfer-encoding", b"expect"))
        lines.append(b"Content-Length: %d" % len(content))
        return Framed(complete=True, request=_join(lines) + content + rest)
    length = _content_length(lengths)
    if length > max_body_bytes:
        # refused on the head alone: nobody waits for a body that is not wanted
        raise RequestTooLarge(f"request body is larger than {max_body_bytes} bytes")
    if len(buffer) - head.end < length:  # measured, not copied: bodies arrive in small records
        return Framed(complete=False, send_continue=bool(expects))
    if expects:
        return Framed(
            complete=True,
            request=_join(_without(head.lines, (b"expect",))) + bytes(buffer[head.end :]),
        )
    return Framed(complete=True, request=bytes(buffer))


def _parse_head(buffer: bytes | bytearray) -> _Head | None:
    end = buffer.find(HEAD_END)
    if end < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise RequestTooLarge(f"request head is longer than {MAX_HEAD_BYTES} bytes")
        return None
    if end > MAX_HEAD_BYTES:
        raise RequestTooLarge(f"request head is longer than {MAX_HEAD_BYTES} bytes")
    lines = bytes(buffer[:end]).split(b"\r\n")
    headers: dict[bytes, list[bytes]] = {}
    for line in lines[1:]:
        found = _HEADER.fullmatch(line)
        if found is None:
            raise BadFraming("a malformed header line")
        headers.setdefault(found.group(1).lower(), []).append(found.group(2))
    return _Head(end + len(HEAD_END), lines, headers)


def _content_length(values: list[bytes]) -> int:
    if not values:
        return 0
    if len(set(values)) != 1 or not values[0].isdigit() or len(values[0]) > 12:
        raise BadFraming("an invalid Content-Length")
    return int(values[0])


def _dechunk(body: bytes, max_body_bytes: int) -> tuple[bytes, bytes] | None:
    """The decoded body and the bytes after it, or None while incomplete."""
    content = bytearray()
    at = 0
    while True:
        line_end = body.find(b"\r\n", at)
        if line_end < 0:
            if len(body) - at > MAX_CHUNK_LINE:
                raise BadFraming("a chunk size line without end")
            return None
        found = _CHUNK_SIZE.fullmatch(body[at:line_end])
        if found is None:
            raise BadFraming("an invalid chunk size")
        size = int(found.group(1), 16)
        at = line_end + 2
        if size == 0:
            return _trailers(body, at, bytes(content))
        if len(content) + size > max_body_bytes:
            raise RequestTooLarge(f"request body is larger than {max_body_bytes} bytes")
        if len(body) < at + size + 2:
            return None
        if body[at + size : at + size + 2] != b"\r\n":
            raise BadFraming("a chunk without its line end")
        content += body[at : at + size]
        at += size + 2


def _trailers(body: bytes, at: int, content: bytes) -> tuple[bytes, bytes] | None:
    # trailer fields are read and dropped (a webhook has no use for them)
    while True:
        line_end = body.find(b"\r\n", at)
        if line_end < 0:
            if len(body) - at > MAX_HEAD_BYTES:
                raise RequestTooLarge("trailers are too long")
            return None
        if line_end == at:
            return content, body[line_end + 2 :]
        at = line_end + 2


def _without(lines: list[bytes], names: tuple[bytes, ...]) -> list[bytes]:
    return [lines[0]] + [
        line for line in lines[1:] if line.split(b":", 1)[0].strip().lower() not in names
    ]


def _join(lines: list[bytes]) -> bytes:
    return b"\r\n".join(lines) + HEAD_END
