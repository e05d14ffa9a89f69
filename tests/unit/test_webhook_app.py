"""The Flask app (webhook.app.create_app) through Flask's test client.

Every review test runs twice: over the fake engine, and over the real
EngineRegistry with the real charts/site chart bound by lostromos.yaml.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from chartkit import apply_patch
from flask import Flask
from flask.testing import FlaskClient
from test_webhook_fakes import FakeRegistry
from werkzeug.test import EnvironBuilder, run_wsgi_app
from werkzeug.wrappers import Response

from lostromos.charts import ChartError
from lostromos.config import load_bindings
from lostromos.engines import EngineRegistry
from webhook.app import create_app

REPO = Path(__file__).resolve().parents[2]
UID = "b0a4ce58-2d5f-4a38-9b55-0a7a3c0e2a51"
VALID_SPEC = {"domain": "blog.example.com", "adminEmail": "admin@example.com"}


def real_registry() -> EngineRegistry:
    return EngineRegistry(load_bindings(REPO / "lostromos.yaml"))


@pytest.fixture(params=["fake-engine", "site-chart"])
def registry(request: pytest.FixtureRequest) -> Any:
    return FakeRegistry() if request.param == "fake-engine" else real_registry()


@pytest.fixture
def app(registry: Any) -> Flask:
    return create_app(registry, max_body_bytes=64 * 1024)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def site_review(spec: Any = ..., **request_fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": "blog", "namespace": "default"},
    }
    if spec is not ...:
        obj["spec"] = spec
    request = {
        "uid": UID,
        "kind": {"group": "hosting.example.com", "version": "v1", "kind": "Site"},
        "resource": {"group": "hosting.example.com", "version": "v1", "resource": "sites"},
        "requestKind": {"group": "hosting.example.com", "version": "v1", "kind": "Site"},
        "name": "blog",
        "namespace": "default",
        "operation": "CREATE",
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
        "object": obj,
        "oldObject": None,
        "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    }
    request.update(request_fields)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def post(client: FlaskClient, path: str, document: Any) -> Any:
    return client.post(path, data=json.dumps(document), content_type="application/json")


def admission_response(reply: Any) -> dict[str, Any]:
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.content_type == "application/json"
    document = reply.get_json()
    assert document["apiVersion"] == "admission.k8s.io/v1"
    assert document["kind"] == "AdmissionReview"
    return document["response"]


def assert_json_error(reply: Any, status: int = 400) -> str:
    assert reply.status_code == status, reply.get_data(as_text=True)
    assert reply.content_type == "application/json"
    body = reply.get_json()
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


def test_patch_applier_follows_rfc_6902() -> None:
    assert apply_patch(
        {"a": [1]},
        [
            {"op": "add", "path": "/a/-", "value": 2},
            {"op": "add", "path": "/a/0", "value": 0},
            {"op": "add", "path": "/b~1c", "value": {}},
            {"op": "replace", "path": "/a/1", "value": 9},
        ],
    ) == {"a": [0, 9, 2], "b/c": {}}


# -- bad input: always HTTP 400 with a JSON error -----------------------------------------


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"{not json", "application/json", "not JSON"),
        (b'{"a": "\xc3\x28"}', "application/json", "not valid UTF-8"),
        (b"[" * 30_000 + b"]" * 30_000, "application/json", "nests too deeply"),
        (
            json.dumps({**site_review(), "apiVersion": "admission.k8s.io/v1beta1"}).encode(),
            "application/json",
            "is not supported",
        ),
        (json.dumps({**site_review(), "kind": "Pod"}).encode(), "application/json", "kind must be"),
        (
            json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
            "application/json",
            "no request",
        ),
        (json.dumps(site_review(uid=None)).encode(), "application/json", "request.uid"),
        (json.dumps(site_review()).encode(), "text/plain", "Content-Type"),
        (json.dumps(site_review()).encode(), None, "Content-Type"),
    ],
)
def test_bad_input_is_400_json(
    client: FlaskClient, path: str, body: bytes, content_type: str | None, fragment: str
) -> None:
    reply = client.post(path, data=body, content_type=content_type)
    assert fragment in assert_json_error(reply)


def test_body_over_the_limit_is_400_json(client: FlaskClient) -> None:
    reply = client.post("/validate", data=b" " * (64 * 1024 + 1), content_type="application/json")
    assert "larger than 65536 bytes" in assert_json_error(reply)


def test_body_at_the_limit_is_read(client: FlaskClient) -> None:
    document = json.dumps(site_review(VALID_SPEC)).encode()
    padded = document + b" " * (64 * 1024 - len(document))
    reply = client.post("/validate", data=padded, content_type="application/json")
    assert admission_response(reply)["allowed"] is True


def raw_environ(body: bytes, content_length: str | None) -> dict[str, Any]:
    environ = EnvironBuilder(
        path="/validate",
        method="POST",
        input_stream=io.BytesIO(body),
        content_type="application/json",
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    if content_length is None:
        # A chunked body: the server (gunicorn) terminates the stream itself.
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = content_length
    return environ


def call_raw(app: Flask, environ: dict[str, Any]) -> Any:
    # The test client recomputes Content-Length from the body; call the WSGI app directly.
    app_iter, status, headers = run_wsgi_app(app.wsgi_app, environ)
    return Response(b"".join(app_iter), status=status, headers=headers)


def test_chunked_body_over_the_limit_is_cut_off(app: Flask) -> None:
    reply = call_raw(app, raw_environ(b" " * (200 * 1024), content_length=None))
    assert "larger than 65536 bytes" in assert_json_error(reply)


def test_chunked_body_under_the_limit_is_read(app: Flask) -> None:
    body = json.dumps(site_review(VALID_SPEC)).encode()
    reply = call_raw(app, raw_environ(body, content_length=None))
    assert admission_response(reply)["allowed"] is True


def test_a_content_length_smaller_than_the_body_reads_no_further(app: Flask) -> None:
    body = json.dumps(site_review(VALID_SPEC)).encode()
    reply = call_raw(app, raw_environ(body, content_length="10"))
    assert "not JSON" in assert_json_error(reply)


def test_a_content_length_over_the_limit_is_refused(app: Flask) -> None:
    reply = call_raw(app, raw_environ(b"{}", content_length=str(10 * 1024 * 1024)))
    assert "larger than 65536 bytes" in assert_json_error(reply)


def test_wrong_method_and_unknown_path_are_json(client: FlaskClient) -> None:
    assert_json_error(client.get("/validate"), 405)
    assert_json_error(client.post("/nowhere", data=b"{}"), 404)


# -- reviews ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_unbound_kind_is_denied(client: FlaskClient, path: str) -> None:
    document = site_review(
        VALID_SPEC, kind={"group": "hosting.example.com", "version": "v1", "kind": "Foo"}
    )
    response = admission_response(post(client, path, document))
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        "no lostromos binding serves hosting.example.com/v1, Kind=Foo"
    )


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_delete_is_allowed(client: FlaskClient, path: str) -> None:
    document = site_review(
        operation="DELETE",
        object=None,
        oldObject={"metadata": {"name": "blog"}, "spec": {"replicas": -1}},
    )
    assert admission_response(post(client, path, document)) == {"uid": UID, "allowed": True}


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_status_subresource_is_allowed(client: FlaskClient, path: str) -> None:
    document = site_review({"replicas": -1}, operation="UPDATE", subResource="status")
    assert admission_response(post(client, path, document)) == {"uid": UID, "allowed": True}


def test_valid_site_is_allowed_and_uid_echoed(client: FlaskClient) -> None:
    response = admission_response(post(client, "/validate", site_review(VALID_SPEC, uid="u-42")))
    assert response["uid"] == "u-42"
    assert response["allowed"] is True
    assert "status" not in response


def test_invalid_site_is_denied_with_every_violation(client: FlaskClient) -> None:
    spec = {**VALID_SPEC, "replicas": 0, "php": {"version": "7.4"}}
    response = admission_response(post(client, "/validate", site_review(spec)))
    assert response["allowed"] is False
    assert (response["status"]["code"], response["status"]["reason"]) == (422, "Invalid")
    lines = response["status"]["message"].splitlines()
    assert lines[0] == 'Site "blog" in namespace "default" is invalid:'
    assert len(lines) == 3
    assert any(line.startswith("spec.php.version:") and "7.4" in line for line in lines)
    assert any(line.startswith("spec.replicas:") for line in lines)


@pytest.mark.parametrize("spec", ["blog", 7, ["a"]])
def test_non_object_spec_is_denied(client: FlaskClient, spec: Any) -> None:
    response = admission_response(post(client, "/validate", site_review(spec)))
    assert response["allowed"] is False
    assert response["status"]["message"].startswith(
        'Site "blog" in namespace "default" is invalid:\nspec'
    )


def test_deprecated_field_gives_a_warning_not_a_denial(client: FlaskClient) -> None:
    spec = {**VALID_SPEC, "php": {"legacyMode": True}}
    response = admission_response(post(client, "/validate", site_review(spec)))
    assert response["allowed"] is True
    assert len(response["warnings"]) == 1
    assert response["warnings"][0].startswith("spec.php.legacyMode is deprecated")
    mutated = admission_response(post(client, "/mutate", site_review(spec)))
    assert "warnings" not in mutated


@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_dry_run_is_answered_like_any_request(client: FlaskClient, path: str) -> None:
    spec = {**VALID_SPEC, "replicas": 0}
    wet = admission_response(post(client, path, site_review(spec)))
    dry = admission_response(post(client, path, site_review(spec, dryRun=True)))
    assert wet == dry


@pytest.mark.parametrize(
    "spec",
    [
        ...,
        None,
        {},
        VALID_SPEC,
        {**VALID_SPEC, "php": {"version": "8.2"}},
        {**VALID_SPEC, "replicas": 3, "php": {"workers": 2}},
        {
            **VALID_SPEC,
            "plugins": [
                {"name": "akismet", "version": "5.3"},
                {"name": "jetpack", "version": "13.1", "enabled": False},
            ],
        },
    ],
)
def test_mutate_patch_yields_the_defaulted_spec(
    client: FlaskClient, registry: Any, spec: Any
) -> None:
    document = site_review(spec)
    response = admission_response(post(client, "/mutate", document))
    assert response["allowed"] is True
    obj = document["request"]["object"]
    given = obj.get("spec") or {}
    engine = registry.engine_for(registry.bindings.bindings[0])
    expected = engine.default(given).values
    if "patch" in response:
        assert response["patchType"] == "JSONPatch"
        ops = json.loads(base64.b64decode(response["patch"]))
        assert ops and all(op["path"].startswith("/spec") for op in ops)
        patched = apply_patch(obj, ops)
    else:
        patched = obj
    assert patched.get("spec") or expected == {}
    assert patched["metadata"] == obj["metadata"]
    # defaulting is idempotent: the patched object needs no further patch
    again = admission_response(post(client, "/mutate", site_review(patched.get("spec", ...))))
    assert "patch" not in again


def test_mutate_adds_defaults_the_chart_declares(client: FlaskClient) -> None:
    spec = {**VALID_SPEC, "plugins": [{"name": "akismet", "version": "5.3"}]}
    response = admission_response(post(client, "/mutate", site_review(spec)))
    ops = json.loads(base64.b64decode(response["patch"]))
    assert ops  # both engines default something for this spec
    assert all(op["op"] == "add" and op["path"].startswith("/spec/") for op in ops)


def test_mutate_leaves_a_non_object_spec_alone(client: FlaskClient) -> None:
    assert admission_response(post(client, "/mutate", site_review("blog"))) == {
        "uid": UID,
        "allowed": True,
    }


# -- health, readiness, metrics -----------------------------------------------------------


def test_healthz(client: FlaskClient) -> None:
    reply = client.get("/healthz")
    assert (reply.status_code, reply.get_json()) == (200, {"status": "ok"})


def test_readyz_when_charts_loaded(client: FlaskClient) -> None:
    reply = client.get("/readyz")
    assert (reply.status_code, reply.get_json()) == (200, {"ready": True})


def test_readyz_reports_why_charts_did_not_load() -> None:
    registry = FakeRegistry(check_error=ChartError("charts/site/values.schema.json: not JSON"))
    reply = create_app(registry).test_client().get("/readyz")
    assert reply.status_code == 503
    assert reply.get_json() == {
        "ready": False,
        "reason": "charts/site/values.schema.json: not JSON",
    }


def _sample(metrics_text: str, name: str, **labels: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            body = line[len(name) :]
            wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
            if not labels or all(f'{k}="{v}"' in body for k, v in labels.items()):
                assert wanted in body or not labels
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_by_endpoint_kind_and_verdict(client: FlaskClient) -> None:
    post(client, "/validate", site_review(VALID_SPEC))
    post(client, "/validate", site_review({"replicas": 0}))
    post(client, "/validate", site_review({"replicas": 0}))
    post(client, "/mutate", site_review(VALID_SPEC))
    client.post("/mutate", data=b"junk", content_type="application/json")
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.content_type.startswith("text/plain")
    text = reply.get_data(as_text=True)
    requests = "lostromos_webhook_requests_total"
    assert _sample(text, requests, endpoint="validate", kind="Site", verdict="allowed") == 1
    assert _sample(text, requests, endpoint="validate", kind="Site", verdict="denied") == 2
    assert _sample(text, requests, endpoint="mutate", kind="Site", verdict="allowed") == 1
    assert _sample(text, requests, endpoint="mutate", kind="", verdict="error") == 1
    latency = "lostromos_webhook_request_duration_seconds_count"
    assert _sample(text, latency, endpoint="validate") == 3


def test_each_app_has_its_own_metrics() -> None:
    first, second = create_app(FakeRegistry()), create_app(FakeRegistry())
    post(first.test_client(), "/validate", site_review(VALID_SPEC))
    text = second.test_client().get("/metrics").get_data(as_text=True)
    assert _sample(text, "lostromos_webhook_requests_total", endpoint="validate") == 0
    text = first.test_client().get("/metrics").get_data(as_text=True)
    assert _sample(text, "lostromos_webhook_requests_total", endpoint="validate") == 1
