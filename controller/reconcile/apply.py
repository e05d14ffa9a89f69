"""APPLY: the units that write the desired state as a release (install, upgrade,
repair: one deploy each through the binding's Deployer, a `helm upgrade --install`
or an ApplySet's server-side apply), record a release already deployed for it, and
adopt an unsigned release record before any action on it.

Every helm call here carries the owner labels and is made only for a release the
observe phase found absent or this object's own; a release of someone else's is
never passed to helm at all.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from controller.ownership import DESIRED_LABEL, Ownership, desired_label, owner_labels
from controller.reconcile.context import Context, log
from controller.reconcile.decide import Action
from controller.reconcile.observe import Desired, Observation
from controller.reconcile.outcomes import ROLLOUT_WAIT_SECONDS, foreign_objects, helm_failed
from controller.reconcile.ports import ForeignObjects, Result
from controller.reconcile.readiness import waiting_after
from controller.reconcile.summarize import Kind, Outcome
from controller.status import INVALID, RELEASE_FAILED, RELEASED, Condition
from lostromos.applyset import HELM
from lostromos.helmengine import HelmError, Release
from lostromos.renderpool import RenderOverBudget

_VERBS = {"Installed": "install", "Upgraded": "upgrade", "Repaired": "repair"}
# The actions that act on an existing release, so an unsigned record is signed first.
_ON_THE_RELEASE = frozenset({Action.UPGRADE, Action.REPAIR, Action.RECOVER, Action.UNINSTALL})


def install(ctx: Context, seen: Observation) -> Result:
    return _apply(ctx, seen, "Installed")


def upgrade(ctx: Context, seen: Observation) -> Result:
    return _apply(ctx, seen, "Upgraded", gated=seen.chart_upgrade)


def repair(ctx: Context, seen: Observation) -> Result:
    return _apply(ctx, seen, "Repaired")


def record(ctx: Context, seen: Observation) -> Result:
    """Our release already deployed this desired state (its signed record says so)
    but the object's status does not: a replica died between helm and its status
    write. Record it; another revision would change nothing."""
    assert seen.obj is not None and seen.release is not None and seen.desired is not None
    obj = ctx.writer.ensure_finalizer(seen.obj)
    released(ctx, obj, seen.release, seen.desired, "Installed")
    return ctx.await_workloads(seen.key, Result())


def adopted(ctx: Context, action: Action, seen: Observation) -> Observation:
    """An unsigned release this object may take over is signed first (exactly the
    record observed), so the action and every later one read a verified record."""
    release = seen.release
    if (
        seen.owner is not Ownership.ADOPTABLE
        or release is None
        or release.record != "unsigned"
        or action not in _ON_THE_RELEASE
    ):
        return seen
    signed = ctx.helm.adopt(
        release,
        impersonate=ctx.binding.helm_user(seen.namespace),
        confine=ctx.binding.confinement(seen.namespace),
    )
    log.warning("adopted the unsigned release record", extra=ctx.log_fields(seen))
    return dataclasses.replace(seen, release=signed, owner=Ownership.OURS)


def progressing(
    ctx: Context, obj: dict[str, Any], reason: str, message: str, desired: Desired | None = None
) -> dict[str, Any]:
    """Say that a Helm action runs now, before it runs."""
    return ctx.writer.status(obj, Outcome(Kind.PROGRESSING, reason, message), desired=desired)


def _apply(ctx: Context, seen: Observation, verb: str, *, gated: bool = False) -> Result:
    desired = seen.desired
    assert desired is not None and seen.obj is not None
    obj = ctx.writer.ensure_finalizer(seen.obj)
    obj = progressing(
        ctx,
        obj,
        verb.removesuffix("ed") + "ing",
        _running(ctx, seen),
        desired,
    )
    if gated and not ctx.rollout.begin(desired.chart_digest):
        return Result(requeue_after=ROLLOUT_WAIT_SECONDS)  # the last slot went meanwhile
    log.info("%s release", _VERBS[verb], extra=ctx.log_fields(seen))
    succeeded = False
    try:
        secrets = ctx.secrets(seen, obj)
        _render_within_budget(ctx, seen, secrets)
        installed = ctx.deployer.deploy(
            obj,
            seen.release_name,
            seen.namespace,
            desired,
            labels={
                **owner_labels(ctx.binding, obj["metadata"]),
                DESIRED_LABEL: desired_label(desired.digest),
            },
            secrets=secrets,
        )
        succeeded = True
    except HelmError as error:
        return helm_failed(ctx, obj, seen, error)
    except ForeignObjects as conflict:
        return foreign_objects(ctx, obj, seen, conflict)
    finally:
        if gated and succeeded and ctx.ready_gate is not None:
            ctx.hold_rollout(seen.key, desired.chart_digest)  # until the workloads settle
        elif gated:
            ctx.rollout.finish(desired.chart_digest, succeeded=succeeded)
    if seen.drift is not None:
        ctx.drift.acknowledge(seen.key, seen.drift)
    released(ctx, obj, installed, desired, verb)
    return ctx.await_workloads(seen.key, Result())


def _running(ctx: Context, seen: Observation) -> str:
    if ctx.deployer.name == HELM:
        return f"Running helm upgrade --install for release {seen.release_name}"
    return f"Applying the ApplySet of release {seen.release_name} (server-side apply)"


def _render_within_budget(ctx: Context, seen: Observation, secrets: list[str]) -> None:
    """Render the desired state in a render process that is killed past the
    binding's renderBudget; raise RenderOverBudget if it was. Go cannot stop the
    render inside a Helm action, so a template bomb must be caught here, before
    it reaches one."""
    desired = seen.desired
    if ctx.renderer is None or desired is None:
        return
    try:
        ctx.renderer.verdict(  # the budget's verdict only: the action renders for real
            desired.chart,
            seen.release_name,
            seen.namespace,
            desired.values,
            budget=ctx.binding.render_budget,
            schema_checked=True,
            secrets=secrets,  # scrubbed from the render process's own log lines
        )
    except RenderOverBudget:
        raise
    except HelmError:
        pass  # the action's own render (where lookup sees the cluster) judges the chart


def released(
    ctx: Context, obj: dict[str, Any], release: Release, desired: Desired, verb: str
) -> None:
    """The object records the release Helm wrote for this desired state."""
    if verb == "Installed" and release.revision != 1:
        verb = "Upgraded"
    message = (
        f"{verb} release {release.name} revision {release.revision} "
        f"(chart {release.chart_name}-{release.chart_version})"
    )
    deployed = release.status == "deployed"
    if deployed and ctx.ready_gate is not None:  # Ready once the workloads are current
        outcome = waiting_after(message)
    else:
        outcome = Outcome(Kind.DEPLOYED if deployed else Kind.NOT_DEPLOYED, verb, message)
    ctx.writer.status(
        obj,
        outcome,
        details=[
            Condition(RELEASED, deployed, verb, message),
            Condition(INVALID, False, "Valid"),
            Condition(RELEASE_FAILED, False, "Deployed"),
        ],
        release={
            "name": release.name,
            "namespace": release.namespace,
            "revision": release.revision,
            "status": release.status,
            "chart": release.chart_name,
            "chartVersion": release.chart_version,
            "digest": desired.digest,
            "chartDigest": desired.chart_digest,
            "lastDeployed": release.last_deployed,
            "resources": list(release.resources),
            **ctx.deployer.status_fields(obj),
        },
        desired=desired,
        extra={"failures": None},  # a success ends the count (merge patch: null deletes)
    )
    ctx.events.record(obj, "Normal", verb, message)
    log.info(
        message,
        extra={"kind": ctx.binding.kind, "release": release.name, "namespace": release.namespace},
    )
