"""Fuzzing the Flask app: whatever a client sends, no answer is ever a 5xx.

Random bytes, random JSON and valid AdmissionReviews with keys deleted,
values of the wrong type, huge strings and deep nesting spliced in. Every
answer must be either a 400 with a JSON error or a well-formed AdmissionReview
that echoes the uid.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_webhook_app import VALID_SPEC, real_registry, site_review
from test_webhook_fakes import FakeRegistry

from webhook.app import create_app

DEEP = "__deeply_nested__"
# LOSTROMOS_FUZZ_EXAMPLES=5000 for a long hunt; the default keeps the unit run fast.
FUZZ = settings(
    max_examples=int(os.environ.get("LOSTROMOS_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
specs = st.one_of(
    st.just(VALID_SPEC),
    st.fixed_dictionaries(
        {},
        optional={
            "domain": st.sampled_from(["blog.example.com", "Bad Domain", ""]) | json_values,
            "adminEmail": st.sampled_from(["a@example.com", "nope"]) | json_values,
            "replicas": st.integers(-5, 30) | json_values,
            "php": st.fixed_dictionaries(
                {},
                optional={
                    "version": st.sampled_from(["8.1", "8.3", "7.4"]) | json_values,
                    "workers": st.integers(-1, 100) | json_values,
                    "legacyMode": st.booleans() | json_values,
                },
            )
            | json_values,
            "plugins": st.lists(
                st.fixed_dictionaries(
                    {"name": st.text(max_size=5), "version": st.text(max_size=5)}
                ),
                max_size=3,
            )
            | json_values,
            "storage": st.fixed_dictionaries(
                {}, optional={"size": st.text(max_size=6), "storageClassName": json_values}
            ),
        },
    ),
    json_values,
)
replacements = st.one_of(
    json_values,
    st.integers(1_000, 300_000).map(lambda n: "x" * n),  # huge strings
    st.integers(50, 5_000).map(lambda n: (DEEP, n)),  # deep nesting, spliced in as text
)


def _locations(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _locations(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _locations(item, (*path, index))
    return found


def _mutate(document: Any, path: tuple, replacement: Any, delete: bool) -> None:
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement


def _encode(document: Any) -> bytes:
    depths: list[int] = []

    def placeholder(value: Any) -> Any:
        if isinstance(value, tuple) and value and value[0] == DEEP:
            depths.append(value[1])
            return f"{DEEP}{len(depths) - 1}"
        if isinstance(value, dict):
            return {key: placeholder(item) for key, item in value.items()}
        if isinstance(value, list):
            return [placeholder(item) for item in value]
        return value

    text = json.dumps(placeholder(document))
    for index, depth in enumerate(depths):
        text = text.replace(f'"{DEEP}{index}"', "[" * depth + "]" * depth, 1)
    return text.encode("utf-8", "surrogatepass")


def check_answer(
    app: Flask,
    path: str,
    body: bytes,
    content_type: str = "application/json",
) -> None:
    reply = app.test_client().post(path, data=body, content_type=content_type)
    assert reply.status_code < 500, reply.get_data(as_text=True)
    assert reply.content_type == "application/json"
    answer = json.loads(reply.get_data())
    if reply.status_code == 200:
        assert answer["apiVersion"] == "admission.k8s.io/v1"
        try:
            document = json.loads(body)
        except RecursionError:
            # Too deep to parse, but the uid was readable: a denial the user can read.
            assert answer["response"]["allowed"] is False
            assert "nests too deeply" in answer["response"]["status"]["message"]
            assert answer["response"]["uid"].encode() in body[:4096]
            return
        assert answer["response"]["uid"] == document["request"]["uid"]
        assert isinstance(answer["response"]["allowed"], bool)
        # A 500 inside a denial means the engine raised: a bug to fix, even if contained.
        assert answer["response"].get("status", {}).get("code") != 500, answer
    else:
        assert reply.status_code == 400
        assert isinstance(answer["error"], str)


@pytest.fixture(scope="module", params=["fake-engine", "site-chart"])
def app(request: pytest.FixtureRequest) -> Flask:
    registry = FakeRegistry() if request.param == "fake-engine" else real_registry()
    return create_app(registry, max_body_bytes=1024 * 1024)


@FUZZ
@given(body=st.binary(max_size=2_000), path=st.sampled_from(["/mutate", "/validate"]))
def test_random_bytes_never_give_5xx(app: Flask, body: bytes, path: str) -> None:
    check_answer(app, path, body)


@FUZZ
@given(document=json_values, path=st.sampled_from(["/mutate", "/validate"]))
def test_random_json_never_gives_5xx(app: Flask, document: Any, path: str) -> None:
    check_answer(app, path, _encode(document))


@FUZZ
@given(
    spec=specs,
    operation=st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT"]),
    path=st.sampled_from(["/mutate", "/validate"]),
    data=st.data(),
)
def test_mutated_reviews_never_give_5xx(
    app: Flask, spec: Any, operation: str, path: str, data: st.DataObject
) -> None:
    document = copy.deepcopy(site_review(spec, operation=operation))  # VALID_SPEC is shared
    for _ in range(data.draw(st.integers(0, 3), label="mutations")):
        locations = _locations(document)
        if not locations:
            break
        where = data.draw(st.sampled_from(locations), label="where")
        delete = data.draw(st.booleans(), label="delete")
        _mutate(document, where, data.draw(replacements, label="replacement"), delete)
    check_answer(app, path, _encode(document))
