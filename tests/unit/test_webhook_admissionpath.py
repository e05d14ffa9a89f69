"""The plain WSGI path for POST /validate and /mutate (webhook.admissionpath).

The webhook app's own tests (test_webhook_app.py) already go through it; these
pin what is particular to it: it answers exactly as the Flask routes behind it
do, it hands every other request to Flask, and a bug is a JSON 500, logged.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from test_webhook_app import VALID_SPEC, site_review
from test_webhook_fakes import FakeRegistry
from werkzeug.test import EnvironBuilder, run_wsgi_app

from webhook.admissionpath import AdmissionPath, status_line
from webhook.app import create_app


def environ(path: str, body: bytes, method: str = "POST", **extra: Any) -> dict[str, Any]:
    built = EnvironBuilder(
        path=path, method=method, input_stream=io.BytesIO(body), content_type="application/json"
    ).get_environ()
    built["CONTENT_LENGTH"] = str(len(body))
    built.update(extra)
    return built


def call(app: Any, env: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    answer, status, headers = run_wsgi_app(app, env)
    return status, dict(headers), b"".join(answer)


BODIES = {
    "admitted": json.dumps(site_review(VALID_SPEC)).encode(),
    "denied": json.dumps(site_review({"replicas": 0})).encode(),
    "not JSON": b"junk",
    "too large": b" " * (64 * 1024 + 1),
}


@pytest.mark.parametrize("path", ["/validate", "/mutate"])
@pytest.mark.parametrize("body", sorted(BODIES))
def test_the_plain_path_answers_as_the_flask_route_does(path: str, body: str) -> None:
    app = create_app(FakeRegistry(), max_body_bytes=64 * 1024)
    plain = app.wsgi_app
    assert isinstance(plain, AdmissionPath)
    ours = call(plain, environ(path, BODIES[body]))
    flasks = call(plain.fallback, environ(path, BODIES[body]))
    assert ours == flasks
    assert ours[1]["Content-Type"] == "application/json"


def test_other_requests_go_to_flask() -> None:
    app = create_app(FakeRegistry(), max_body_bytes=64 * 1024)
    status, headers, _ = call(app.wsgi_app, environ("/validate", b"", method="OPTIONS"))
    assert status == "200 OK"
    assert "POST" in headers["Allow"]
    status, _, body = call(app.wsgi_app, environ("/validate", b"", method="GET"))
    assert status == "405 METHOD NOT ALLOWED"
    assert "error" in json.loads(body)
    status, _, body = call(app.wsgi_app, environ("/healthz", b"", method="GET"))
    assert (status, json.loads(body)) == ("200 OK", {"status": "ok"})


def test_a_bug_in_the_review_is_a_logged_json_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(endpoint: str, env: Any) -> Any:
        raise KeyError("bug")

    def fallback(env: Any, start_response: Any) -> Any:
        raise AssertionError("an admission POST must not reach the fallback")

    with caplog.at_level(logging.ERROR, logger="lostromos.webhook"):
        status, headers, body = call(AdmissionPath(broken, fallback), environ("/mutate", b"{}"))
    assert status == "500 INTERNAL SERVER ERROR"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"error": "internal error (KeyError)"}
    assert "unexpected error answering POST /mutate" in caplog.text


def test_status_lines_are_werkzeugs() -> None:
    assert [status_line(code) for code in (200, 400, 500)] == [
        "200 OK",
        "400 BAD REQUEST",
        "500 INTERNAL SERVER ERROR",
    ]
