"""One line for an error talking to the API server, without urllib3's internals
(`HTTPSConnectionPool(host=...): Max retries exceeded ... <urllib3.connection...
object at 0x7f...>`): what was reached and why it failed, as kubectl says it."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError, MaxRetryError, ProtocolError


def _root_cause(error: BaseException) -> BaseException:
    seen: set[int] = set()
    current = error
    while id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current
        following = (
            (getattr(current, "reason", None) if isinstance(current, MaxRetryError) else None)
            or current.__cause__
            or current.__context__
        )
        if not isinstance(following, BaseException):
            break
        current = following
    return current


def _cause_text(error: BaseException) -> str:
    root = _root_cause(error)
    if isinstance(root, OSError) and root.strerror:
        return root.strerror[:1].lower() + root.strerror[1:]
    text = str(root).splitlines()[0] if str(root) else type(root).__name__
    # urllib3 prefixes its messages with the repr of a connection object.
    return text.split(">: ", 1)[-1]


def brief_error(error: BaseException) -> str:
    """`connection refused (https://127.0.0.1:6443)`, `503 Service Unavailable`, ..."""
    if isinstance(error, ApiException):
        return f"{error.status} {error.reason}"
    if isinstance(error, MaxRetryError):
        pool = error.pool
        where = (
            f"{getattr(pool, 'scheme', 'https')}://{getattr(pool, 'host', '?')}:"
            f"{getattr(pool, 'port', '?')}"
            if pool is not None
            else error.url
        )
        return f"{_cause_text(error)} ({where})"
    if isinstance(error, ProtocolError | OSError):
        return _cause_text(error)
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def is_transient(error: BaseException) -> bool:
    """A failure to reach the API server, or one it asks us to retry: no bug, no traceback."""
    if isinstance(error, ApiException):
        return error.status in (429, 500, 502, 503, 504) or error.status == 0
    return isinstance(error, HTTPError | OSError)
