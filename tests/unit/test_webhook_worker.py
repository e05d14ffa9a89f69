"""webhook.worker.request_complete: when the poller has read enough to hand a request over."""

from __future__ import annotations

import pytest

from webhook.worker import MAX_HEAD_BYTES, RequestTooLarge, request_complete

HEAD = b"POST /validate HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize(
    ("buffer", "complete"),
    [
        (b"", False),
        (b"POST /validate HTTP/1.1\r\nHost: w\r\nContent-Le", False),
        (HEAD + b'Content-Length: 5\r\n\r\n{"a"', False),
        (HEAD + b'Content-Length: 5\r\n\r\n{"a":', True),
        (HEAD + b"content-length:5\r\n\r\n12345 and the next request", True),
        (b"GET /healthz HTTP/1.1\r\nHost: w\r\n\r\n", True),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n", True),
        (HEAD + b"Content-Length: 9\r\nExpect: 100-continue\r\n\r\n", True),
        (HEAD + b"Content-Length: 999999999\r\n\r\n" + b"x" * 11, True),  # past max: 1 byte more
    ],
)
def test_request_complete(buffer: bytes, complete: bool) -> None:
    assert request_complete(buffer, max_body_bytes=10) is complete


def test_a_head_without_end_is_refused() -> None:
    with pytest.raises(RequestTooLarge):
        request_complete(b"GET / HTTP/1.1\r\nX: " + b"x" * MAX_HEAD_BYTES, max_body_bytes=10)
