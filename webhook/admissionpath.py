"""POST /validate and POST /mutate as a plain WSGI callable in front of the Flask app.

An admission review needs the body, the Content-Type and a JSON answer; Flask adds
a request context, URL matching and request and response objects around that.
Measured in one process, interleaved (bench/decision.py, the `WSGI` rows, and
bench/README.md), those cost 130-150 us of CPU per review, more than a re-applied
review's whole decision, so the two endpoints the API server calls on every write
skip them. Every other request (health, readiness, metrics, other methods on the
admission paths, unknown paths) goes to the Flask app unchanged, which keeps the
routes for /validate and /mutate too: its 405 and OPTIONS answers come from them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from werkzeug.http import HTTP_STATUS_CODES

from lostromos.admission import Endpoint

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from webhook.review import ReviewOutcome

JSON = "application/json"
ADMISSION_PATHS: dict[str, Endpoint] = {"/validate": "validate", "/mutate": "mutate"}

log = logging.getLogger("lostromos.webhook")

Review = Callable[[Endpoint, "WSGIEnvironment"], "ReviewOutcome"]


def status_line(code: int) -> str:
    """The status line Werkzeug (and so Flask) would send: `400 BAD REQUEST`."""
    return f"{code} {HTTP_STATUS_CODES.get(code, 'UNKNOWN').upper()}"


class AdmissionPath:
    """Answers POST /validate and /mutate with `review`; everything else is `fallback`'s."""

    def __init__(self, review: Review, fallback: WSGIApplication) -> None:
        self.review = review
        self.fallback = fallback

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        endpoint = ADMISSION_PATHS.get(environ.get("PATH_INFO", ""))
        if endpoint is None or environ.get("REQUEST_METHOD") != "POST":
            return self.fallback(environ, start_response)
        try:
            outcome = self.review(endpoint, environ)
            status, body = outcome.http_status, outcome.body
        except Exception as error:  # a bug: the review itself never raises for any input
            log.exception("unexpected error answering POST %s", environ.get("PATH_INFO"))
            status = 500
            body = json.dumps({"error": f"internal error ({type(error).__name__})"}).encode()
        headers: list[tuple[str, str]] = [
            ("Content-Type", JSON),
            ("Content-Length", str(len(body))),
        ]
        start_response(status_line(status), headers)
        return [body]
