"""The webhook's WSGI app: /mutate, /validate, /healthz, /readyz, /metrics.

`create_app` holds everything an app needs (registry, metrics, limits) in its
own closure: no module-level state, so tests can build as many apps as they
like. The review logic lives in webhook.review; this module is only HTTP.
POST /validate and /mutate are answered by a plain WSGI callable in front of
Flask (webhook.admissionpath); Flask serves the rest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from time import monotonic, perf_counter
from typing import Any, Protocol

from flask import Flask, Response, request
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from lostromos.admission import BAD_REQUEST_CODE, BAD_REQUEST_REASON, NO_CHECKS, SpecCheck, deny
from webhook.admissionpath import AdmissionPath
from webhook.budget import ReviewBudget, ReviewOverBudget
from webhook.metrics import WebhookMetrics
from webhook.options import DEFAULT_MAX_BODY_BYTES
from webhook.review import (
    Endpoint,
    EngineSource,
    ReviewHandler,
    ReviewOutcome,
    encode_response,
    error_body,
    find_request_uid,
)

JSON = "application/json"
DISCARD_SECONDS = 5.0
DISCARD_CHUNK = 256 * 1024

log = logging.getLogger("lostromos.webhook")


class ChartRegistry(EngineSource, Protocol):
    """What the app needs from lostromos.engines.EngineRegistry."""

    def check_all(self) -> object: ...


def _json_response(payload: object, status: int) -> Response:
    return Response(json.dumps(payload), status=status, content_type=JSON)


def _check_charts(registry: ChartRegistry) -> str | None:
    """Load every bound chart once; the reason the app is not ready, or None."""
    try:
        registry.check_all()
    except Exception as error:  # a chart error or a bug: either way, not ready
        log.error("charts could not be loaded: %s", error)
        return str(error) or type(error).__name__
    return None


def create_app(
    registry: ChartRegistry,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    metrics_multiprocess_dir: str | Path | None = None,
    checks: Sequence[SpecCheck] = NO_CHECKS,
    review_seconds: float | None = None,
    max_spec_values: int | None = None,
) -> Flask:
    """Build the webhook app over `registry` (a lostromos.engines.EngineRegistry).

    `metrics_multiprocess_dir` is for gunicorn with several workers: see
    webhook.metrics.enable_multiprocess. `checks` are the extra checks /validate
    runs on the defaulted spec (lostromos.admission.SpecCheck). `review_seconds` is
    the time and CPU budget of one review (webhook.budget), `max_spec_values` how
    many values a spec may hold (webhook.limits); None leaves them unbounded.
    """
    app = Flask("webhook")
    # Werkzeug enforces this for a declared Content-Length and for chunked bodies.
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    not_ready_reason = _check_charts(registry)
    handler = ReviewHandler(registry, checks, max_spec_values=max_spec_values)
    budget = ReviewBudget(review_seconds) if review_seconds is not None else None
    metrics = WebhookMetrics(metrics_multiprocess_dir)

    def read_body(environ: dict[str, Any]) -> bytes | ReviewOutcome:
        body = bytearray()
        try:
            # Werkzeug's own guarded stream, as Flask's request.stream is: it refuses a
            # declared Content-Length over the limit and cuts a chunked body off there.
            stream = get_input_stream(environ, max_content_length=max_body_bytes)
            # Read until the end of the body or one byte past the limit: a stream can
            # return less than asked for, and a chunked body has no length to check first.
            while len(body) <= max_body_bytes:
                chunk = stream.read(max_body_bytes + 1 - len(body))
                if not chunk:
                    break
                body += chunk
        except RequestEntityTooLarge:
            return _too_large(max_body_bytes, environ)
        except ClientDisconnected:
            return ReviewOutcome(400, error_body("request body ended early"), "error")
        if len(body) > max_body_bytes:
            return _too_large(max_body_bytes, environ)
        return bytes(body)

    def decide(endpoint: Endpoint, content_type: str | None, body: bytes) -> ReviewOutcome:
        if budget is None:
            return handler.handle(endpoint, content_type, body)
        try:
            with budget.limit():
                return handler.handle(endpoint, content_type, body)
        except ReviewOverBudget:
            return _over_budget(body, budget.seconds, endpoint)

    def review(endpoint: Endpoint, environ: dict[str, Any]) -> ReviewOutcome:
        started = perf_counter()
        body = read_body(environ)
        outcome = (
            body
            if isinstance(body, ReviewOutcome)
            else decide(endpoint, environ.get("CONTENT_TYPE"), body)
        )
        metrics.observe(endpoint, outcome.kind, outcome.verdict, perf_counter() - started)
        return outcome

    def flask_review(endpoint: Endpoint) -> Response:
        outcome = review(endpoint, request.environ)
        return Response(outcome.body, status=outcome.http_status, content_type=JSON)

    # Flask's routes for the two endpoints give other methods its 405 and OPTIONS
    # answers; POST itself is answered in front of Flask (AdmissionPath). Called
    # directly (app.wsgi_app.fallback), they are what bench/decision.py measures
    # the plain path against.
    @app.post("/mutate")
    def mutate() -> Response:
        return flask_review("mutate")

    @app.post("/validate")
    def validate() -> Response:
        return flask_review("validate")

    @app.get("/healthz")
    def healthz() -> Response:
        return _json_response({"status": "ok"}, 200)

    @app.get("/readyz")
    def readyz() -> Response:
        if not_ready_reason is not None:
            return _json_response({"ready": False, "reason": not_ready_reason}, 503)
        return _json_response({"ready": True}, 200)

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        payload, content_type = metrics.render()
        return Response(payload, status=200, content_type=content_type)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        # 404/405 and any body-limit error raised outside read_body: JSON, like the rest.
        status = error.code or 400
        if isinstance(error, RequestEntityTooLarge):
            outcome = _too_large(max_body_bytes, request.environ)
            return Response(outcome.body, status=outcome.http_status, content_type=JSON)
        return _json_response({"error": error.description or error.name}, status)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return _json_response({"error": f"internal error ({type(error).__name__})"}, 500)

    app.wsgi_app = AdmissionPath(review, app.wsgi_app)  # type: ignore[method-assign]
    return app


def _over_budget(body: bytes, seconds: float, endpoint: Endpoint) -> ReviewOutcome:
    uid = find_request_uid(body)
    log.warning(
        "review stopped after its budget of %s s", seconds, extra={"uid": uid, "endpoint": endpoint}
    )
    message = (
        f"lostromos stopped checking this object after {seconds:g} s, the webhook's "
        "time and CPU budget for one review: its spec is too large or too complex to "
        "check in time (see Limits in docs/operators.md)"
    )
    if uid is None:
        return ReviewOutcome(400, error_body(message), "error")
    denial = deny(uid, BAD_REQUEST_CODE, BAD_REQUEST_REASON, message)
    return ReviewOutcome(200, encode_response(denial), "denied")


def _too_large(max_body_bytes: int, environ: dict[str, Any]) -> ReviewOutcome:
    # 400 like every other unusable body; the API server itself never sends one this big.
    _discard_body(environ, limit=2 * max_body_bytes)
    return ReviewOutcome(
        400, error_body(f"request body is larger than {max_body_bytes} bytes"), "error"
    )


def _discard_body(environ: dict[str, Any], *, limit: int) -> None:
    """Read and drop the rest of an oversized body, within bounds of size and time.

    A client still sending when we answer and close sees a broken pipe instead of
    our 400; reading a moderately oversized body to its end lets it read the answer
    (and keep its connection). Past the bounds the server closes the connection.
    """
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    deadline = monotonic() + DISCARD_SECONDS
    discarded = 0
    try:
        while discarded < limit and monotonic() < deadline:
            chunk = stream.read(min(DISCARD_CHUNK, limit - discarded))
            if not chunk:
                return
            discarded += len(chunk)
    except Exception:  # a broken chunk, a vanished client: the connection closes anyway
        return
