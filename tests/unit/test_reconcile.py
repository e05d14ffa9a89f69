"""Every state -> action pair of the reconciler, with fakes for helm and the API."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from controller.reconcile import ReconcileError
from controller.reconcile.decide import Action, decide
from controller.reconcile.observe import FINALIZER, Observation, observe
from controller.reconcile.outcomes import HALTED_RECHECK_SECONDS
from lostromos.config import RolloutPolicy, Selector
from lostromos.helmengine import HelmError
from tests.unit.reconcilekit import (
    FakeEngine,
    World,
    binding,
    in_sync_world,
    ours,
    release,
    release_policy,
    site,
)

# -- nothing ----------------------------------------------------------------------


def test_a_gone_object_is_nothing_and_its_drift_report_is_dropped() -> None:
    world = World()
    world.drift.record({"team-a/blog": 1})
    assert world.reconcile().requeue_after is None
    assert world.helm.calls == [] and "team-a/blog" not in world.drift


def test_an_object_the_selector_does_not_serve_is_nothing() -> None:
    world = World(
        site(finalizer=False),
        bound=binding(
            selector=Selector(annotation_key="lostromos.dev/controller", annotation_value="eu")
        ),
    )
    world.reconcile()
    assert world.helm.calls == [] and world.api.status_writes == []
    assert world.api.finalizer_writes == []


def test_in_sync_costs_no_validation_and_no_helm_call() -> None:
    world = in_sync_world()
    for _ in range(3):  # a resync, and the echo of our own status write
        world.reconcile()
    assert world.helm.calls == []
    assert world.engine.validations == 0
    assert world.api.status_writes[-1]["release"]["revision"] == 1  # nothing written since


def test_in_sync_is_decided_from_the_digest_not_from_the_schema() -> None:
    world = in_sync_world()
    world.engine.invalid = True  # a schema check would now fail; the digest is unchanged
    world.reconcile()
    assert world.helm.calls == [] and world.engine.validations == 0


# -- stall ------------------------------------------------------------------------


def test_an_invalid_spec_stalls_with_no_helm_call_and_one_event() -> None:
    world = World(site(finalizer=False), engine=FakeEngine(invalid=True))
    world.reconcile()
    world.reconcile()
    assert world.helm.calls == []
    assert world.condition("Ready")["status"] == "False"
    assert world.condition("Invalid")["reason"] == "SchemaViolation"
    assert world.condition("Stalled")["status"] == "True"
    assert "spec.replicas" in world.condition("Invalid")["message"]
    assert world.events.reasons() == ["InvalidSpec"]


def test_an_invalid_release_name_stalls_naming_the_rule() -> None:
    long_name = "a" * 54
    world = World(site(long_name, finalizer=False))
    world.reconcile(f"team-a/{long_name}")
    assert world.helm.calls == []
    invalid = world.condition("Invalid", f"team-a/{long_name}")
    assert invalid["reason"] == "InvalidReleaseName"
    assert "is 54 characters; Helm allows at most 53" in invalid["message"]


def test_a_name_template_that_makes_no_helm_name_stalls() -> None:
    world = World(
        site("blog", finalizer=False),
        bound=binding(release=release_policy(name_template="{name}_{kind}")),
    )
    world.reconcile()
    assert world.helm.calls == []
    assert "is not one Helm accepts" in world.condition("Invalid")["message"]


# -- install ----------------------------------------------------------------------


def test_absent_and_valid_installs_with_owner_labels_and_a_finalizer() -> None:
    world = World(site(finalizer=False))
    assert world.reconcile().requeue_after is None
    assert world.helm.actions() == ["status", "upgrade"]
    assert ours().items() <= world.helm.calls[1][2].items()
    assert world.api.finalizer_writes == [[FINALIZER]]
    stored = world.obj()
    assert stored["status"]["release"]["name"] == "blog"
    assert world.condition("Ready")["status"] == "True"
    assert world.condition("Reconciling")["status"] == "False"
    assert world.condition("Stalled")["status"] == "False"
    assert world.events.reasons() == ["Installed"]
    # Reconciling was True, and Ready Unknown, while helm ran.
    running = world.api.status_writes[0]["conditions"]
    assert {c["type"]: c["status"] for c in running}["Reconciling"] == "True"
    assert {c["type"]: c["status"] for c in running}["Ready"] == "Unknown"


# -- upgrade ----------------------------------------------------------------------


def test_out_of_sync_and_ours_upgrades_with_owner_labels() -> None:
    world = in_sync_world()
    world.change_spec({"domain": "new.example.com"})
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]
    assert ours().items() <= world.helm.calls[1][2].items()
    assert world.obj()["status"]["release"]["revision"] == 2
    assert world.events.reasons() == ["Upgraded"]


def test_a_sensitive_value_in_helms_error_reaches_no_message_and_no_log_line() -> None:
    # The retry log prints the ReconcileError; status and the Event show the message.
    secret = "blog-secret.example.com"
    world = World(site(spec={"domain": secret}), bound=binding(sensitive_paths=("domain",)))
    world.helm.fail["upgrade"] = HelmError("upgrade", f"Error: Invalid value: {secret!r}")
    with pytest.raises(ReconcileError) as raised:
        world.reconcile()
    assert secret not in str(raised.value) and "<redacted>" in str(raised.value)
    assert secret not in json.dumps(world.obj()["status"])
    assert world.helm.secrets == [secret]  # sent, so the engine scrubs Helm's own log


def test_a_failed_upgrade_is_retried_with_the_reason_in_status() -> None:
    world = World(site())
    world.helm.fail["upgrade"] = HelmError("upgrade", "Error: boom", timed_out=True)
    with pytest.raises(ReconcileError, match="boom"):
        world.reconcile()
    assert world.condition("ReleaseFailed")["reason"] == "Timeout"
    assert world.condition("Ready")["reason"] == "ReleaseFailed"
    assert world.condition("Reconciling")["status"] == "False"
    assert world.events.reasons() == ["ReleaseFailed"]


def test_helm_unreachable_is_retried_without_blaming_the_release() -> None:
    world = World(site())
    world.helm.fail["upgrade"] = HelmError("upgrade", "engine gone", retryable=True)
    with pytest.raises(ReconcileError):
        world.reconcile()
    assert world.events.reasons() == []


def test_a_failing_status_read_is_a_retry_not_a_crash() -> None:
    world = World(site())
    world.helm.fail["status"] = HelmError("status", "cluster unreachable")
    with pytest.raises(ReconcileError, match="reading the release"):
        world.reconcile()
    assert world.helm.changes() == []
    ready = world.condition("Ready")
    assert ready["status"] == "False" and ready["reason"] == "ReleaseUnreadable"
    assert ready["message"] == "Cannot read the release: cluster unreachable"


def test_an_unreachable_engine_while_reading_says_nothing_about_the_release() -> None:
    world = World(site())
    world.helm.fail["status"] = HelmError("status", "engine gone", retryable=True)
    with pytest.raises(ReconcileError, match="reading the release"):
        world.reconcile()
    assert world.api.status_writes == []


# -- recover ----------------------------------------------------------------------


def test_a_pending_upgrade_of_ours_is_rolled_back_then_upgraded() -> None:
    world = World(site())
    world.helm.releases[("blog", "team-a")] = release(
        revision=3, status="pending-upgrade", labels=ours()
    )
    assert world.reconcile().requeue_after == 0
    assert world.helm.changes() == [("rollback", "blog", 2)]
    assert world.events.reasons() == ["Recovered"]
    world.reconcile()
    assert world.helm.actions()[-1] == "upgrade"
    assert world.condition("Ready")["status"] == "True"


def test_a_pending_install_of_ours_is_removed_then_installed() -> None:
    world = World(site())
    world.helm.releases[("blog", "team-a")] = release(status="pending-install", labels=ours())
    world.reconcile()
    assert world.helm.changes() == [("uninstall", "blog", None)]
    world.reconcile()
    assert world.obj()["status"]["release"]["revision"] == 1


# -- repair -----------------------------------------------------------------------


def test_a_drift_report_makes_an_in_sync_object_a_repair_acknowledged_on_success() -> None:
    world = in_sync_world()
    world.drift_found()
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]
    assert world.events.reasons() == ["Repaired"]
    assert "team-a/blog" not in world.drift
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]  # nothing more to do


def test_upgrades_repairs_and_rollbacks_carry_the_bindings_history_bound() -> None:
    world = World(site(), bound=binding(release=release_policy(max_history=3)))
    world.helm.releases[("blog", "team-a")] = release(
        revision=4, status="pending-upgrade", labels=ours()
    )
    world.reconcile()  # recover: rollback
    world.reconcile()  # upgrade
    world.drift_found()
    world.reconcile()  # repair
    assert [(action, revision) for action, _, revision in world.helm.changes()][:1] == [
        ("rollback", 3)
    ]
    assert [action for action, _, _ in world.helm.changes()] == ["rollback", "upgrade", "upgrade"]
    assert world.events.reasons()[-1] == "Repaired"
    assert world.helm.max_histories == [3, 3, 3]


def test_a_failed_repair_stays_a_repair() -> None:
    world = in_sync_world()
    world.drift_found()
    world.helm.fail["upgrade"] = HelmError("upgrade", "boom")
    with pytest.raises(ReconcileError):
        world.reconcile()
    assert "team-a/blog" in world.drift
    del world.helm.fail["upgrade"]
    world.reconcile()
    assert world.helm.actions().count("upgrade") == 2
    assert "team-a/blog" not in world.drift


def observed(world: World, key: str = "team-a/blog") -> Observation:
    return observe(
        key,
        binding=world.binding,
        store=world.informer,
        engines=world.reconciler.engines,
        deployer=world.reconciler.deployer,
        drift=world.drift,
        rollout=world.rollout,
    )


def test_drift_found_while_a_repair_ran_is_left_to_the_next_check() -> None:
    """A check that began before the repair wrote its revision judged the old one:
    the repair does not acknowledge it, and the new revision drops it unrepaired
    (a change made meanwhile is still there for the next check to find)."""
    world = in_sync_world()
    world.drift_found()
    seen = observed(world)
    world.drift_found()  # the next check, while helm was busy
    world.reconciler.act(decide(seen), seen)
    assert "team-a/blog" in world.drift  # not the report the repair acknowledged
    world.helm.calls.clear()
    world.reconcile()
    assert world.helm.calls == [] and "team-a/blog" not in world.drift


def test_an_upgrade_is_not_followed_by_a_repair_of_what_it_pruned() -> None:
    """A check that read the expected objects before an upgrade and listed them after
    its prune reports the pruned ones missing: that report is of the revision before,
    and no repair (a revision nobody asked for) follows the upgrade."""
    world = in_sync_world()
    world.change_spec({"domain": "new.example.com"})
    seen = observed(world)
    world.drift_found()  # expectations read at revision 1, listed after the prune
    world.reconciler.act(decide(seen), seen)
    assert world.obj()["status"]["release"]["revision"] == 2
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]
    assert world.events.reasons() == ["Upgraded"]
    assert "team-a/blog" not in world.drift


# -- rollout gate -----------------------------------------------------------------


def chart_changed(world: World, digest: str = "chart-2") -> None:
    world.engine.digest = digest
    world.helm.calls.clear()


def test_a_shut_rollout_gate_holds_with_no_helm_call() -> None:
    world = in_sync_world()
    world.rollout.policy = RolloutPolicy(max_in_flight=1)
    assert world.rollout.begin("chart-2")  # another release holds the one slot
    chart_changed(world)
    assert world.reconcile().requeue_after == 2.0
    assert world.helm.calls == []


def test_a_halted_rollout_stalls_the_object_on_its_old_chart() -> None:
    world = in_sync_world()
    world.rollout.policy = RolloutPolicy(max_in_flight=5, max_failure_ratio=0.1, min_samples=1)
    world.rollout.begin("chart-2")
    world.rollout.finish("chart-2", succeeded=False)
    chart_changed(world)
    assert world.reconcile().requeue_after == HALTED_RECHECK_SECONDS
    assert world.helm.calls == []
    assert world.condition("ReleaseFailed")["reason"] == "RolloutHalted"
    assert world.condition("Stalled")["reason"] == "RolloutHalted"


def test_a_chart_upgrade_takes_and_returns_a_rollout_slot() -> None:
    world = in_sync_world()
    chart_changed(world)
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]
    progress = world.rollout.progress()
    assert (progress.upgraded, progress.in_flight) == (1, 0)


# -- dry run ----------------------------------------------------------------------


def test_dry_run_says_what_it_would_do_and_does_nothing(caplog) -> None:
    world = World(site(finalizer=False), dry_run=True)
    with caplog.at_level(logging.INFO):
        world.reconcile()
    assert "dry run: would install release" in caplog.text
    assert world.helm.calls == [] and world.api.status_writes == []
    assert world.api.finalizer_writes == []


# -- the decision table alone ------------------------------------------------------


def test_decide_covers_every_state() -> None:
    world = World(site())
    world.helm.releases[("blog", "team-a")] = release(labels=ours())
    seen = observed(world)
    assert decide(seen) is Action.UPGRADE
    assert seen.owner is not None and seen.release_read
    assert decide(seen.__class__("k", None)) is Action.NOTHING
    import dataclasses

    def with_(**changes: Any) -> Action:
        return decide(dataclasses.replace(seen, **changes))

    assert with_(filtered=True) is Action.NOTHING
    assert with_(in_sync=True) is Action.NOTHING
    assert with_(problems=("spec.x: bad",)) is Action.STALL
    assert with_(name_problem="too long") is Action.STALL
    assert with_(rollout_open=False) is Action.HOLD
    assert with_(release=None, owner=type(seen.owner).ABSENT) is Action.INSTALL
    assert with_(owner=type(seen.owner).FOREIGN) is Action.REFUSE
    assert with_(release=release(status="pending-rollback", labels=ours())) is Action.RECOVER
    assert with_(drift=_report()) is Action.REPAIR
    assert with_(deleting=True) is Action.UNINSTALL
    assert with_(deleting=True, owner=type(seen.owner).FOREIGN) is Action.RELEASE_FINALIZER
    assert with_(deleting=True, had_finalizer=False) is Action.NOTHING
    assert with_(deleting=True, name_problem="bad") is Action.RELEASE_FINALIZER
    assert with_(retries_exhausted=True) is Action.GIVE_UP
    assert with_(retries_exhausted=True, in_sync=True) is Action.NOTHING
    assert with_(retries_exhausted=True, deleting=True) is Action.UNINSTALL


def _report() -> Any:
    from controller.drift import DriftReport

    return DriftReport(1, 1)


def test_a_sensitive_value_in_helms_message_is_redacted_in_status_and_events() -> None:
    bound = binding(sensitive_paths=("db.password",))
    world = World(
        site(spec={"domain": "blog.example.com", "db": {"password": "hunter2"}}), bound=bound
    )
    world.helm.fail["upgrade"] = HelmError(
        "upgrade", "execution error at (site/templates/db.yaml:3:4): password hunter2 is weak"
    )
    with pytest.raises(ReconcileError):
        world.reconcile()
    shown = world.condition("Ready")["message"]
    assert "hunter2" not in shown and "password <redacted> is weak" in shown
    assert all("hunter2" not in message for _, _, message in world.events.recorded)


def test_status_shows_the_desired_chart_even_when_the_install_failed() -> None:
    world = World(site(finalizer=False))
    world.helm.fail["upgrade"] = HelmError("upgrade", "Error: boom")
    with pytest.raises(ReconcileError):
        world.reconcile()
    assert world.obj()["status"]["chart"] == {"name": "site", "version": "1.0.0"}


def test_an_unloadable_binding_says_so_on_its_objects_and_calls_no_helm() -> None:
    from lostromos.engines import BindingLoadError

    world = World(site())

    def broken(binding: Any) -> Any:
        raise BindingLoadError("site", "charts/site: values.schema.json: not valid JSON")

    world.reconciler.engines.engine_for = broken  # type: ignore[method-assign]
    result = world.reconcile()
    assert result.requeue_after is not None
    assert world.helm.actions() == []
    ready = world.condition("Ready")
    assert ready["reason"] == "BindingUnloadable" and "not valid JSON" in ready["message"]


def test_a_release_deployed_for_this_state_but_not_recorded_is_recorded_not_upgraded() -> None:
    """A replica killed after helm deployed and before its status write: its successor
    finds the signed record labelled with this very desired state and records it."""
    world = World(site(finalizer=False))
    world.reconcile()
    assert world.helm.changes()[-1][0] == "upgrade"
    world.obj()["status"] = {}  # the status write never happened
    world.helm.calls.clear()
    world.reconcile()
    assert world.helm.changes() == []  # no revision 2 with no change
    assert world.obj()["status"]["release"]["revision"] == 1
    assert world.condition("Ready")["status"] == "True"


def test_a_deployed_release_of_another_state_is_still_upgraded() -> None:
    world = World(site(finalizer=False))
    world.reconcile()
    world.obj()["status"] = {}
    world.obj()["spec"] = {"replicas": 3}
    world.helm.calls.clear()
    world.reconcile()
    assert [call[0] for call in world.helm.changes()] == ["upgrade"]
    assert world.obj()["status"]["release"]["revision"] == 2
