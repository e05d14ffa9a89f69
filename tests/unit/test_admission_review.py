"""Deciding reviews (webhook.review.ReviewHandler) over a fake values engine."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from test_admission import review
from test_webhook_fakes import FakeEngine, FakeRegistry

from lostromos.charts import ChartError
from webhook.review import ReviewHandler, ReviewOutcome

JSON = "application/json"


def handle(
    body: Any,
    endpoint: str = "validate",
    registry: FakeRegistry | None = None,
    content_type: str | None = JSON,
) -> ReviewOutcome:
    handler = ReviewHandler(registry or FakeRegistry())
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return handler.handle(endpoint, content_type, raw)  # type: ignore[arg-type]


def response_of(outcome: ReviewOutcome) -> dict[str, Any]:
    assert outcome.http_status == 200
    wire = json.loads(outcome.body)
    assert (wire["apiVersion"], wire["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    return wire["response"]


def site(spec: Any = ..., **request_fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": "blog", "namespace": "default"},
    }
    if spec is not ...:
        obj["spec"] = spec
    return review(object=obj, **request_fields)


def patch_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(response["patch"]))


# -- HTTP-level refusals ---------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain", "application/jsonx", "application/x-www-form-urlencoded"],
)
def test_content_type_must_be_json(content_type: str | None) -> None:
    outcome = handle(site({"domain": "a.example.com"}), content_type=content_type)
    assert outcome.http_status == 400
    assert "Content-Type must be application/json" in json.loads(outcome.body)["error"]
    assert outcome.verdict == "error"


def test_content_type_parameters_are_accepted() -> None:
    outcome = handle(
        site({"domain": "a.example.com"}), content_type="Application/JSON; charset=utf-8"
    )
    assert response_of(outcome)["allowed"] is True


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff",
        b"[]",
        json.dumps({**review(), "apiVersion": "admission.k8s.io/v1beta1"}).encode(),
        b"[" * 50_000 + b"]" * 50_000,
    ],
)
def test_bad_bodies_are_400_with_a_json_error(body: bytes) -> None:
    outcome = handle(body)
    assert outcome.http_status == 400
    assert set(json.loads(outcome.body)) == {"error"}


# -- what is looked at --------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["mutate", "validate"])
@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
def test_delete_and_connect_are_allowed_without_looking(endpoint: str, operation: str) -> None:
    registry = FakeRegistry(engine=FakeEngine(fail_with=AssertionError("engine called")))
    outcome = handle(site("not even an object", operation=operation), endpoint, registry)
    assert response_of(outcome) == {"uid": review()["request"]["uid"], "allowed": True}
    assert registry.engine.calls == []


@pytest.mark.parametrize("endpoint", ["mutate", "validate"])
def test_status_subresource_is_allowed_unchecked(endpoint: str) -> None:
    registry = FakeRegistry(engine=FakeEngine(fail_with=AssertionError("engine called")))
    outcome = handle(
        site({"replicas": 99}, operation="UPDATE", subResource="status"), endpoint, registry
    )
    assert response_of(outcome)["allowed"] is True
    assert registry.engine.calls == []


@pytest.mark.parametrize("endpoint", ["mutate", "validate"])
def test_unbound_kind_is_denied_naming_the_kind(endpoint: str) -> None:
    body = site(
        {"domain": "a.example.com"},
        kind={"group": "hosting.example.com", "version": "v1", "kind": "Foo"},
    )
    outcome = handle(body, endpoint)
    response = response_of(outcome)
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        "no lostromos binding serves hosting.example.com/v1, Kind=Foo"
    )
    assert response["status"]["code"] == 400
    assert (outcome.verdict, outcome.kind) == ("denied", "unbound")


def test_binding_is_found_from_request_kind_not_the_object() -> None:
    body = site(
        {"domain": "a.example.com"},
        kind={"group": "hosting.example.com", "version": "v2", "kind": "Site"},
    )
    assert response_of(handle(body))["allowed"] is False


def test_uid_is_echoed() -> None:
    outcome = handle(site({"domain": "a.example.com"}, uid="my-uid-1"))
    assert response_of(outcome)["uid"] == "my-uid-1"


# -- /validate --------------------------------------------------------------------------


def test_valid_spec_is_allowed_with_deprecation_warnings() -> None:
    outcome = handle(site({"domain": "a.example.com", "php": {"legacyMode": True}}))
    response = response_of(outcome)
    assert response["allowed"] is True
    assert response["warnings"] == ["spec.php.legacyMode is deprecated: choose php.version instead"]
    assert (outcome.verdict, outcome.kind) == ("allowed", "Site")


def test_invalid_spec_is_denied_with_every_violation() -> None:
    outcome = handle(site({"replicas": 0, "php": {"version": "7.4", "legacyMode": True}}))
    response = response_of(outcome)
    assert response["allowed"] is False
    assert response["status"]["code"] == 422
    assert response["status"]["reason"] == "Invalid"
    assert response["status"]["message"].splitlines() == [
        'Site "blog" in namespace "default" is invalid:',
        "spec.domain: required property is missing",
        'spec.php.version: "7.4" is not allowed: must be one of "8.1", "8.2", "8.3", "8.4"',
        "spec.replicas: 0 is not allowed: must be an integer from 1 to 20",
    ]
    assert response["warnings"] == ["spec.php.legacyMode is deprecated: choose php.version instead"]
    assert outcome.verdict == "denied"


def test_missing_spec_is_validated_as_empty() -> None:
    response = response_of(handle(site()))
    assert response["status"]["message"].splitlines()[1:] == [
        "spec.domain: required property is missing"
    ]


@pytest.mark.parametrize("spec", ["text", 3, [1, 2], True])
def test_non_object_spec_is_denied(spec: Any) -> None:
    response = response_of(handle(site(spec)))
    assert response["allowed"] is False
    assert response["status"]["message"].startswith(
        'Site "blog" in namespace "default" is invalid:\nspec: '
    )


def test_non_object_spec_is_denied_even_if_the_engine_says_nothing() -> None:
    class SilentEngine(FakeEngine):
        def validate(self, spec: Any) -> list:
            return []

    response = response_of(handle(site("text"), registry=FakeRegistry(engine=SilentEngine())))
    assert response["allowed"] is False
    assert "spec: must be an object, got a string" in response["status"]["message"]


def test_update_validates_the_new_object() -> None:
    body = site(
        {"replicas": 50, "domain": "a.example.com"},
        operation="UPDATE",
        oldObject={"metadata": {"name": "blog"}, "spec": {"domain": "a.example.com"}},
    )
    assert response_of(handle(body))["allowed"] is False


def test_finalizer_removal_of_a_deleting_object_is_not_blocked_by_its_spec() -> None:
    body = site(
        {"replicas": 50},
        operation="UPDATE",
        oldObject={"metadata": {"name": "blog", "finalizers": ["f"]}, "spec": {"replicas": 50}},
    )
    body["request"]["object"]["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    assert response_of(handle(body))["allowed"] is True
    body["request"]["object"]["spec"] = {"replicas": 51}  # a spec change is still checked
    assert response_of(handle(body))["allowed"] is False


def test_dry_run_gets_the_same_answer() -> None:
    spec = {"replicas": 0}
    wet = response_of(handle(site(spec, dryRun=False)))
    dry = response_of(handle(site(spec, dryRun=True)))
    assert wet == dry
    assert dry["allowed"] is False


# -- /mutate ----------------------------------------------------------------------------


def test_mutate_returns_spec_prefixed_ops_and_no_warnings() -> None:
    outcome = handle(site({"domain": "a.example.com", "php": {"legacyMode": True}}), "mutate")
    response = response_of(outcome)
    assert response["allowed"] is True
    assert patch_of(response) == [
        {"op": "add", "path": "/spec/replicas", "value": 1},
        {"op": "add", "path": "/spec/php/workers", "value": 8},
    ]
    assert "warnings" not in response


def test_mutate_without_spec_adds_the_whole_defaulted_spec() -> None:
    response = response_of(handle(site(), "mutate"))
    assert patch_of(response) == [
        {"op": "add", "path": "/spec", "value": {"replicas": 1, "php": {"workers": 8}}}
    ]


def test_mutate_of_an_already_defaulted_spec_has_no_patch() -> None:
    spec = {"domain": "a.example.com", "replicas": 2, "php": {"workers": 3}}
    response = response_of(handle(site(spec), "mutate"))
    assert response == {"uid": review()["request"]["uid"], "allowed": True}


def test_mutate_leaves_a_non_object_spec_alone_and_allows() -> None:
    registry = FakeRegistry()
    response = response_of(handle(site(["x"]), "mutate", registry))
    assert response == {"uid": review()["request"]["uid"], "allowed": True}
    assert registry.engine.calls == []


def test_mutate_does_not_deny_an_invalid_spec() -> None:
    response = response_of(handle(site({"replicas": 0}), "mutate"))
    assert response["allowed"] is True


# -- our own failures ---------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["mutate", "validate"])
def test_engine_bug_is_a_denial_not_a_crash(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = FakeRegistry(engine=FakeEngine(fail_with=KeyError("boom")))
    with caplog.at_level(logging.ERROR, logger="lostromos.webhook"):
        outcome = handle(site({"domain": "a.example.com"}), endpoint, registry)
    response = response_of(outcome)
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    assert "internal error (KeyError)" in response["status"]["message"]
    assert outcome.verdict == "error"
    assert caplog.records[0].exc_info is not None


@pytest.mark.parametrize("endpoint", ["mutate", "validate"])
def test_recursion_in_the_engine_is_a_denial(endpoint: str) -> None:
    registry = FakeRegistry(engine=FakeEngine(fail_with=RecursionError("too deep")))
    response = response_of(handle(site({"a": 1}), endpoint, registry))
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert "nests too deeply" in response["status"]["message"]


def test_a_real_deep_spec_never_escapes_as_an_exception() -> None:
    # Deep enough to pass json.loads but to break the (recursive) fake engine's deepcopy.
    deep: Any = 1
    for _ in range(900):
        deep = {"a": deep}
    for endpoint in ("mutate", "validate"):
        outcome = handle(site({"domain": "a.example.com", "x": deep}), endpoint)
        assert outcome.http_status in (200, 400)
        json.loads(outcome.body)


def test_unloadable_chart_is_a_denial_naming_the_chart_error() -> None:
    registry = FakeRegistry(engine_error=ChartError("charts/site/values.schema.json: broken"))
    response = response_of(handle(site({"domain": "a.example.com"}), registry=registry))
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    assert "charts/site/values.schema.json: broken" in response["status"]["message"]


# -- logging ----------------------------------------------------------------------------


def test_denials_are_logged_at_info_with_the_object(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="lostromos.webhook"):
        handle(site({"replicas": 0}))
        handle(site({"domain": "a.example.com"}))
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.levelno == logging.INFO
    assert record.getMessage() == 'denied Site "blog" in namespace "default"'
    assert (record.object, record.namespace, record.kind) == ("blog", "default", "Site")  # type: ignore[attr-defined]
    # Paths and rules, never the values given (they may be secrets).
    assert "spec.replicas: must be an integer from 1 to 20" in record.denial  # type: ignore[attr-defined]
    assert "0 is not allowed" not in record.denial  # type: ignore[attr-defined]


def test_allowed_requests_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="lostromos.webhook"):
        handle(site({"domain": "a.example.com"}))
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_a_patch_too_deep_to_encode_becomes_a_denial() -> None:
    class DeepDefaults(FakeEngine):
        def default(self, spec: Any) -> Any:
            deep: Any = 1
            for _ in range(5_000):  # built in a loop; only encoding it recurses
                deep = [deep]
            return type(
                "Defaulted",
                (),
                {
                    "values": {**spec, "x": deep},
                    "patch": [{"op": "add", "path": "/x", "value": deep}],
                },
            )

    response = response_of(handle(site({"a": 1}), "mutate", FakeRegistry(engine=DeepDefaults())))
    assert response["allowed"] is False
    assert "nests too deeply" in response["status"]["message"]
