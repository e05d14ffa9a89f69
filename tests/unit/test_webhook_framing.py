"""webhook.framing.frame: when the poller holds a whole request, and what a thread then reads."""

from __future__ import annotations

import pytest

from webhook.framing import MAX_HEAD_BYTES, BadFraming, RequestTooLarge, frame

HEAD = b"POST /validate HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("buffer", "complete"),
    [
        (b"", False),
        (b"POST /validate HTTP/1.1\r\nHost: w\r\nContent-Le", False),
        (HEAD + b'Content-Length: 5\r\n\r\n{"a"', False),
        (HEAD + b'Content-Length: 5\r\n\r\n{"a":', True),
        (HEAD + b"content-length:5\r\n\r\n12345 and the next request", True),
        (b"GET /healthz HTTP/1.1\r\nHost: w\r\n\r\n", True),
        (CHUNKED, False),
        (CHUNKED + b'5\r\n{"a":', False),
        (CHUNKED + b'5\r\n{"a":\r\n0\r\n', False),  # trailers not ended
        (CHUNKED + b'5\r\n{"a":\r\n0\r\n\r\n', True),
        (HEAD + b"Content-Length: 9\r\nExpect: 100-continue\r\n\r\n", False),
    ],
)
def test_complete(buffer: bytes, complete: bool) -> None:
    assert frame(buffer, max_body_bytes=10).complete is complete


def test_a_chunked_body_reaches_the_thread_decoded_with_a_length() -> None:
    buffer = CHUNKED + b'3;ext=1\r\n{"a\r\n2\r\n":\r\n0\r\nTrailer: x\r\n\r\nGET /next'
    framed = frame(buffer, max_body_bytes=100)
    assert framed.request == HEAD + b'Content-Length: 5\r\n\r\n{"a":GET /next'


def test_an_expected_continue_is_sent_by_the_poller_and_dropped_from_the_request() -> None:
    head = HEAD + b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    waiting = frame(head, max_body_bytes=100)
    assert (waiting.complete, waiting.send_continue) == (False, True)
    framed = frame(head + b"{}", max_body_bytes=100)
    assert framed.request == HEAD + b"Content-Length: 2\r\n\r\n{}"
    chunked = frame(
        HEAD + b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n", max_body_bytes=9
    )
    assert chunked.send_continue


@pytest.mark.parametrize(
    "buffer",
    [
        HEAD + b"Content-Length: 11\r\n\r\n",  # declared past the limit: no body is awaited
        CHUNKED + b"b\r\n",  # a chunk past the limit
        CHUNKED + b"6\r\n123456\r\n6\r\n",  # chunks adding up past it
        b"GET / HTTP/1.1\r\nX: " + b"x" * MAX_HEAD_BYTES,  # a head without end
    ],
)
def test_too_large_is_refused_before_the_body_arrives(buffer: bytes) -> None:
    with pytest.raises(RequestTooLarge):
        frame(buffer, max_body_bytes=10)


@pytest.mark.parametrize(
    "buffer",
    [
        HEAD + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
        HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n",
        HEAD + b"Content-Length: -1\r\n\r\n",
        HEAD + b"Expect: something-else\r\n\r\n",
        HEAD + b"no colon here\r\n\r\n",
        CHUNKED + b"zz\r\n",
        CHUNKED + b"2\r\nabXY",
        CHUNKED + b"1" * 2000,
    ],
)
def test_broken_framing_is_refused(buffer: bytes) -> None:
    with pytest.raises(BadFraming):
        frame(buffer, max_body_bytes=100)
