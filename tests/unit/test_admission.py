"""AdmissionReview v1 parsing and response building (webhook.review, lostromos.admission)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from lostromos.admission import (
    AdmissionRequest,
    AdmissionResponse,
    Denial,
    GroupVersionKind,
    allow,
    deny,
    invalid_message,
    spec_patch,
)
from webhook.review import (
    BadReview,
    decode_json,
    encode_response,
    error_body,
    parse_review,
    to_review,
)

SITE = {"group": "hosting.example.com", "version": "v1", "kind": "Site"}


def review(**request_fields: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": SITE,
        "resource": {"group": "hosting.example.com", "version": "v1", "resource": "sites"},
        "name": "blog",
        "namespace": "default",
        "operation": "CREATE",
        "object": {
            "apiVersion": "hosting.example.com/v1",
            "kind": "Site",
            "metadata": {"name": "blog", "namespace": "default"},
            "spec": {"domain": "blog.example.com"},
        },
        "oldObject": None,
        "dryRun": False,
    }
    request.update(request_fields)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


# -- decoding -----------------------------------------------------------------------


def test_decode_json_reads_utf8_json() -> None:
    assert decode_json('{"a": "é"}'.encode()) == {"a": "é"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"a": "\xc3"}', "not valid UTF-8"),
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b'{"a": -Infinity}', "-Infinity is not valid JSON"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": ' + b"9" * 5000 + b"}", "not usable JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nests too deeply"),
    ],
)
def test_decode_json_refuses_what_is_not_strict_json(body: bytes, fragment: str) -> None:
    with pytest.raises(BadReview, match=fragment):
        decode_json(body)


# -- parsing ------------------------------------------------------------------------


def test_parse_review_reads_the_request() -> None:
    request = parse_review(review(dryRun=True, subResource="status"))
    assert request.uid == "705ab4f5-6393-11e8-b7cc-42010a800002"
    assert request.kind == GroupVersionKind("hosting.example.com", "v1", "Site")
    assert (request.operation, request.sub_resource, request.dry_run) == ("CREATE", "status", True)
    assert (request.name, request.namespace) == ("blog", "default")
    assert request.spec == {"domain": "blog.example.com"}


def test_parse_review_allows_a_missing_object_on_delete() -> None:
    request = parse_review(
        review(operation="DELETE", object=None, oldObject={"metadata": {"name": "blog"}})
    )
    assert request.operation == "DELETE"
    assert request.object is None


def test_core_group_is_the_empty_string() -> None:
    request = parse_review(review(kind={"group": "", "version": "v1", "kind": "Pod"}))
    assert str(request.kind) == "/v1, Kind=Pod"


def _without(document: dict[str, Any], *path: str) -> dict[str, Any]:
    target = document
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return document


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([], "must be a JSON object"),
        (
            {**review(), "apiVersion": "admission.k8s.io/v1beta1"},
            'apiVersion "admission.k8s.io/v1beta1" is not supported',
        ),
        (_without(review(), "apiVersion"), "apiVersion null is not supported"),
        ({**review(), "kind": "ConversionReview"}, "kind must be 'AdmissionReview'"),
        (_without(review(), "request"), "has no request object"),
        ({**review(), "request": "x"}, "has no request object"),
        (_without(review(), "request", "uid"), "request.uid must be a non-empty string"),
        (review(uid=""), "request.uid must be a non-empty string"),
        (review(uid=12), "request.uid must be a non-empty string"),
        (_without(review(), "request", "kind"), "request.kind must be an object"),
        (review(kind="Site"), "request.kind must be an object"),
        (review(kind={"group": "g", "version": "v1"}), "request.kind.kind must be"),
        (review(kind={"group": 1, "version": "v1", "kind": "Site"}), "request.kind.group"),
        (review(operation="PATCH"), 'request.operation "PATCH" is not one of'),
        (_without(review(), "request", "operation"), "request.operation must be"),
        (review(dryRun="yes"), "request.dryRun must be true or false"),
        (review(name=["blog"]), "request.name must be"),
        (review(namespace=7), "request.namespace must be"),
        (review(subResource={}), "request.subResource must be"),
        (review(object=None), "request.object must be an object for CREATE"),
        (review(operation="UPDATE", object=[1]), "request.object must be an object for UPDATE"),
    ],
)
def test_parse_review_refuses_malformed_reviews(document: Any, fragment: str) -> None:
    with pytest.raises(BadReview) as raised:
        parse_review(document)
    assert fragment in str(raised.value)


def test_a_long_foreign_value_is_shortened_in_the_message() -> None:
    with pytest.raises(BadReview) as raised:
        parse_review({**review(), "apiVersion": "x" * 10_000})
    assert len(str(raised.value)) < 300


# -- naming the object --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, 'Site "blog" in namespace "default"'),
        ({"namespace": ""}, 'Site "blog"'),
        (
            {"name": "", "object": {"metadata": {"name": "from-meta"}}},
            'Site "from-meta" in namespace "default"',
        ),
        (
            {"name": "", "object": {"metadata": {"generateName": "blog-"}}},
            'Site with generateName "blog-" in namespace "default"',
        ),
        ({"name": "", "object": {"metadata": "junk"}}, 'Site (no name) in namespace "default"'),
    ],
)
def test_describe_object(fields: dict[str, Any], expected: str) -> None:
    assert parse_review(review(**fields)).describe_object() == expected


@pytest.mark.parametrize(
    ("spec_field", "has_spec", "spec"),
    [
        ({"spec": {"a": 1}}, True, {"a": 1}),
        ({}, False, {}),
        ({"spec": None}, False, {}),
        ({"spec": "text"}, True, "text"),
    ],
)
def test_missing_or_null_spec_means_no_values(spec_field: dict, has_spec: bool, spec: Any) -> None:
    request = AdmissionRequest(
        uid="u",
        kind=GroupVersionKind("g", "v1", "Site"),
        operation="CREATE",
        object={"metadata": {}, **spec_field},
    )
    assert (request.has_spec, request.spec) == (has_spec, spec)


def _deleting(old_spec: Any, new_spec: Any, *, deleting: bool = True) -> AdmissionRequest:
    metadata: dict[str, Any] = {"name": "blog", "finalizers": []}
    if deleting:
        metadata["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return AdmissionRequest(
        uid="u",
        kind=GroupVersionKind("g", "v1", "Site"),
        operation="UPDATE",
        object={"metadata": metadata, "spec": new_spec},
        old_object={"metadata": {"name": "blog", "finalizers": ["x"]}, "spec": old_spec},
    )


def test_finalizer_removal_on_a_deleting_object_is_recognised() -> None:
    assert _deleting({"a": 1}, {"a": 1}).is_deleting_without_spec_change()
    assert not _deleting({"a": 1}, {"a": 2}).is_deleting_without_spec_change()
    assert not _deleting({"a": 1}, {"a": 1}, deleting=False).is_deleting_without_spec_change()


# -- responses ----------------------------------------------------------------------


def test_allowed_response_has_the_exact_v1_shape() -> None:
    assert to_review(allow("abc")) == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "abc", "allowed": True},
    }


def test_denied_response_carries_a_status() -> None:
    response = deny("abc", 422, "Invalid", 'Site "blog" is invalid:\nspec: bad', warnings=["w"])
    assert to_review(response)["response"] == {
        "uid": "abc",
        "allowed": False,
        "status": {
            "code": 422,
            "reason": "Invalid",
            "message": 'Site "blog" is invalid:\nspec: bad',
        },
        "warnings": ["w"],
    }


def test_patch_is_base64_json_with_patch_type() -> None:
    ops = [{"op": "add", "path": "/spec/replicas", "value": 1}]
    wire = json.loads(encode_response(allow("abc", patch=ops)))
    assert wire["response"]["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(wire["response"]["patch"])) == ops
    assert "status" not in wire["response"]


def test_response_encodes_strings_json_cannot_hold_raw() -> None:
    # a lone surrogate arrives from "\ud800" in the request and must be written back escaped
    encoded = encode_response(
        AdmissionResponse(uid="a", allowed=False, denial=Denial(422, "Invalid", "bad \ud800"))
    )
    assert json.loads(encoded)["response"]["status"]["message"] == "bad \ud800"


# -- patches and messages -----------------------------------------------------------


def test_spec_patch_prefixes_every_path() -> None:
    ops = [
        {"op": "add", "path": "/php/workers", "value": 8},
        {"op": "replace", "path": "", "value": {}},
        {"op": "move", "from": "/old", "path": "/new"},
    ]
    assert spec_patch(ops, had_spec=True, defaulted_spec={}) == [
        {"op": "add", "path": "/spec/php/workers", "value": 8},
        {"op": "replace", "path": "/spec", "value": {}},
        {"op": "move", "from": "/spec/old", "path": "/spec/new"},
    ]
    assert ops[0]["path"] == "/php/workers"  # the engine's ops are left alone


def test_spec_patch_adds_the_whole_spec_when_there_was_none() -> None:
    ops = [{"op": "add", "path": "/replicas", "value": 1}]
    assert spec_patch(ops, had_spec=False, defaulted_spec={"replicas": 1}) == [
        {"op": "add", "path": "/spec", "value": {"replicas": 1}},
    ]
    assert spec_patch([], had_spec=False, defaulted_spec={}) == []


def test_invalid_message_names_the_object_then_one_line_per_violation() -> None:
    message = invalid_message('Site "blog" in namespace "default"', ["spec.a: x", "spec.b: y"])
    assert message.splitlines() == [
        'Site "blog" in namespace "default" is invalid:',
        "spec.a: x",
        "spec.b: y",
    ]


def test_error_body_is_json_with_the_uid_when_known() -> None:
    assert json.loads(error_body("broken")) == {"error": "broken"}
    assert json.loads(error_body("broken", "u1")) == {"error": "broken", "uid": "u1"}
