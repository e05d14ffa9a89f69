"""The admission decision itself (lostromos.admission.decide): no bytes, no HTTP."""

from __future__ import annotations

from typing import Any

from test_webhook_fakes import GROUP, KIND, VERSION, FakeRegistry

from lostromos.admission import AdmissionRequest, GroupVersionKind, SpecContext, decide


def request(spec: Any = ..., name: str = "blog", **fields: Any) -> AdmissionRequest:
    obj: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name, "namespace": "default"},
    }
    if spec is not ...:
        obj["spec"] = spec
    return AdmissionRequest(
        uid="u-1",
        kind=GroupVersionKind(GROUP, VERSION, KIND),
        operation=fields.pop("operation", "CREATE"),
        name=name,
        namespace="default",
        object=obj,
        **fields,
    )


def test_a_release_name_helm_refuses_is_denied_naming_the_rule() -> None:
    response = decide(request({"domain": "a.example.com"}, name="s" * 54), FakeRegistry())
    assert not response.allowed and response.denial is not None
    assert response.denial.code == 422
    assert response.denial.message.splitlines()[1] == (
        f'metadata.name: release name "{"s" * 54}" (from template "{{name}}") '
        "is 54 characters; Helm allows at most 53"
    )


def test_a_release_name_problem_comes_with_every_values_problem() -> None:
    response = decide(request({"replicas": 0}, name="s" * 54), FakeRegistry())
    assert response.denial is not None
    lines = response.denial.message.splitlines()[1:]
    assert lines[0].startswith("metadata.name: release name")
    assert any(line.startswith("spec.domain:") for line in lines)


def test_mutate_does_not_judge_the_release_name() -> None:
    response = decide(request({"domain": "a.example.com"}, name="s" * 54), FakeRegistry(), "mutate")
    assert response.allowed


def test_mutate_carries_the_defaulted_spec() -> None:
    response = decide(request({"domain": "a.example.com"}), FakeRegistry(), "mutate")
    assert response.spec == {"domain": "a.example.com", "replicas": 1, "php": {"workers": 8}}
    assert [op["path"] for op in response.patch] == ["/spec/replicas", "/spec/php"]


def test_extra_checks_see_the_defaulted_spec_and_release_and_can_deny() -> None:
    seen: list[SpecContext] = []

    def confined(context: SpecContext) -> list[str]:
        seen.append(context)
        return ["spec.replicas: rendered Deployment blog is in another namespace"]

    response = decide(request({"domain": "a.example.com"}), FakeRegistry(), checks=[confined])
    assert [(c.release, dict(c.spec), c.binding.kind) for c in seen] == [
        ("blog", {"domain": "a.example.com", "replicas": 1, "php": {"workers": 8}}, "Site")
    ]
    assert response.denial is not None
    assert response.denial.message.splitlines() == [
        'Site "blog" in namespace "default" is invalid:',
        "spec.replicas: rendered Deployment blog is in another namespace",
    ]


def test_extra_checks_do_not_run_on_a_spec_already_refused() -> None:
    calls: list[SpecContext] = []
    response = decide(
        request({"replicas": 0}),
        FakeRegistry(),
        checks=[lambda context: calls.append(context) or []],
    )
    assert not response.allowed and calls == []


def test_passing_extra_checks_allow_with_warnings() -> None:
    response = decide(
        request({"domain": "a.example.com", "php": {"legacyMode": True}}),
        FakeRegistry(),
        checks=[lambda context: []],
    )
    assert response.allowed
    assert list(response.warnings) == [
        "spec.php.legacyMode is deprecated: choose php.version instead"
    ]


def test_without_checks_validate_does_not_default_again() -> None:
    registry = FakeRegistry()
    decide(request({"domain": "a.example.com"}), registry)
    assert "default" not in registry.engine.calls
