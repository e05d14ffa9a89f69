"""Release names from metadata only, owner labels, and the legacy-adoption marks."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from controller.drift import DriftObservations, DriftReport
from controller.ownership import (
    Ownership,
    owner_labels,
    ownership,
    parse_time,
    release_name,
    release_name_problem,
)
from lostromos.helmengine import Release
from tests.unit.reconcilekit import UID, binding, ours, release, release_policy, site


def test_the_release_name_comes_from_metadata_and_the_template_only() -> None:
    obj = site("blog", status={"release": {"name": "victim"}})
    assert release_name(binding(), obj["metadata"]) == "blog"
    templated = binding(release=release_policy(name_template="{binding}-{namespace}-{name}"))
    assert release_name(templated, obj["metadata"]) == "site-team-a-blog"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("a" * 54, "at most 53"),
        ("--kube-as-group=system:masters", "is not one Helm accepts"),
        ("Blog", "is not one Helm accepts"),
        ("blog-", "is not one Helm accepts"),
        ("a..b", "is not one Helm accepts"),
    ],
)
def test_names_helm_would_refuse_name_the_rule(name: str, rule: str) -> None:
    problem = release_name_problem(name)
    assert problem is not None and rule in problem


def test_good_names_have_no_problem() -> None:
    assert release_name_problem("a" * 53) is None
    assert release_name_problem("blog-2") is None
    assert release_name_problem("blog.v2") is None  # Helm takes dots, so the controller does


def test_owner_labels_record_binding_namespace_name_and_uid() -> None:
    assert owner_labels(binding(), site()["metadata"]) == {
        "lostromos.dev/binding": "site",
        "lostromos.dev/owner-namespace": "team-a",
        "lostromos.dev/owner-name": "blog",
        "lostromos.dev/owner-uid": UID,
    }


def test_an_object_without_a_uid_owns_nothing() -> None:
    metadata = {**site()["metadata"], "uid": ""}
    found = release(labels={"lostromos.dev/owner-uid": ""})
    assert (
        ownership(found, binding(), metadata, chart_name="site", had_finalizer=True)
        is Ownership.FOREIGN
    )


def test_legacy_marks_compare_at_whole_seconds() -> None:
    metadata = site()["metadata"]  # created 10:00:00Z

    def owner(first: str) -> Ownership:
        return ownership(
            release(labels={}, first_deployed=first),
            binding(),
            metadata,
            chart_name="site",
            had_finalizer=True,
        )

    assert owner("2026-01-01T10:00:00.5Z") is Ownership.ADOPTABLE  # the same second
    assert owner("2026-01-01T11:00:00+01:00") is Ownership.ADOPTABLE  # 10:00:00Z
    assert owner("2026-01-01T09:59:59.999999999Z") is Ownership.FOREIGN
    assert owner("not a time") is Ownership.FOREIGN


def test_times_parse_as_the_api_server_and_helm_write_them() -> None:
    utc = datetime.UTC
    assert parse_time("2026-01-01T10:00:00Z") == datetime.datetime(2026, 1, 1, 10, tzinfo=utc)
    helm = parse_time("2026-01-01T10:00:00.123456789Z")
    assert helm == datetime.datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=utc)
    assert parse_time("") is None


def test_drift_observations_are_acknowledged_only_up_to_the_report_repaired() -> None:
    store = DriftObservations()
    store.record({"ns/a": 1, "ns/b": 1})
    first = store.get("ns/a", 1)
    assert first is not None
    store.record({"ns/a": 1})  # found again while the first repair ran
    store.acknowledge("ns/a", first)
    latest = store.get("ns/a", 1)
    assert latest is not None and latest != first
    store.acknowledge("ns/a", latest)
    assert "ns/a" not in store
    store.forget("ns/b")
    assert len(store) == 0


def test_a_drift_observation_of_an_earlier_revision_is_dropped() -> None:
    store = DriftObservations()
    store.record({"ns/a": 1, "ns/b": 2})
    assert store.get("ns/a", 2) is None  # revision 2 was deployed since the check began
    assert "ns/a" not in store
    assert store.get("ns/b", 2) == DriftReport(1, 2)


def _judged(record: str, **changes: object) -> Release:
    return dataclasses.replace(release(labels=ours()), record=record, **changes)  # type: ignore[arg-type]


def _recorded(found: Release) -> dict[str, object]:
    return {
        "name": found.name,
        "namespace": found.namespace,
        "revision": found.revision,
        "status": "deployed",
        "lastDeployed": found.last_deployed,
        "resources": [dict(item) for item in found.resources],
    }


def _owner(found: Release, recorded: dict[str, object] | None, **policy: object) -> Ownership:
    obj = site()
    return ownership(
        found,
        binding(release=release_policy(**policy)) if policy else binding(),
        obj["metadata"],
        chart_name="site",
        had_finalizer=True,
        recorded=recorded,
    )


def test_a_signed_record_is_ours_by_its_owner_uid_alone() -> None:
    assert _owner(_judged("signed"), None) is Ownership.OURS
    other = _judged("signed", labels=ours("someone-else"))
    assert _owner(other, None) is Ownership.FOREIGN


def test_an_unsigned_record_is_adopted_only_when_status_recorded_exactly_it() -> None:
    unsigned = _judged("unsigned")
    assert _owner(unsigned, _recorded(unsigned)) is Ownership.ADOPTABLE
    assert _owner(unsigned, None) is Ownership.FOREIGN  # owner labels alone prove nothing
    for field, value in (
        ("revision", 2),
        ("lastDeployed", "2026-01-02T00:00:00Z"),
        ("resources", [{"kind": "Secret", "namespace": "kube-system", "name": "x"}]),
    ):
        assert _owner(unsigned, {**_recorded(unsigned), field: value}) is Ownership.FOREIGN
    pending = _judged("unsigned", status="pending-upgrade", revision=2)
    assert _owner(pending, _recorded(pending)) is Ownership.FOREIGN
    assert (
        _owner(unsigned, None, adopt=True) is Ownership.ADOPTABLE
    )  # the binding's explicit opt-in


def test_a_later_unlabelled_release_fitting_every_legacy_mark_is_not_ours() -> None:
    # Finalizer, name, chart and a first deploy after the object's creation: the
    # legacy marks fit, but it is not the release the object's status recorded.
    third_party = dataclasses.replace(
        release(first_deployed="2026-03-01T00:00:00Z"), record="unsigned"
    )
    earlier = release(first_deployed="2026-01-01T10:00:03Z")
    assert _owner(third_party, _recorded(earlier)) is Ownership.FOREIGN
