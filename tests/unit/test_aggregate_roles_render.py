"""The operator chart's aggregate-to-view/edit/admin ClusterRoles: rendered for
every bound kind by default, and not at all when turned off in values."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_operator_chart_render import documents

AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def aggregate_roles(docs: list[dict]) -> dict[str, dict]:
    return {
        d["metadata"]["name"]: d
        for d in docs
        if d["kind"] == "ClusterRole"
        and any(k.startswith(AGGREGATE) for k in d["metadata"].get("labels", {}))
    }


def test_the_bound_kinds_join_view_edit_and_admin(helm_binary: Path) -> None:
    roles = aggregate_roles(documents(helm_binary))
    assert set(roles) == {"lostromos-view", "lostromos-edit"}
    view, edit = roles["lostromos-view"], roles["lostromos-edit"]
    joins = {
        name: {k for k in r["metadata"]["labels"] if k.startswith(AGGREGATE)}
        for name, r in roles.items()
    }
    assert joins["lostromos-view"] == {AGGREGATE + "view", AGGREGATE + "edit", AGGREGATE + "admin"}
    assert joins["lostromos-edit"] == {AGGREGATE + "edit", AGGREGATE + "admin"}
    assert view["rules"] == [
        {
            "apiGroups": ["hosting.example.com"],
            "resources": ["sites", "sites/status"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    assert edit["rules"] == [
        {
            "apiGroups": ["hosting.example.com"],
            "resources": ["sites"],
            "verbs": ["create", "update", "patch", "delete"],
        }
    ]


def test_they_can_be_turned_off(helm_binary: Path) -> None:
    assert aggregate_roles(documents(helm_binary, "rbac.aggregateClusterRoles=false")) == {}
