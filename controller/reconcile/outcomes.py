"""The actions that call no Helm: the object says why nothing is done (or done yet),
with one Event per new reason rather than one per look. Also the record of a failed
Helm action, which the apply and recover units share.
"""

from __future__ import annotations

from typing import Any

from controller import retries
from controller import status as conditions
from controller.reconcile.context import Context, log
from controller.reconcile.observe import Observation
from controller.reconcile.ports import ForeignObjects, ReconcileError, Result
from controller.reconcile.summarize import Kind, Outcome, summarize
from lostromos.engines import BindingLoadError
from lostromos.helmengine import HelmError
from lostromos.renderpool import RenderOverBudget

Condition = conditions.Condition

ROLLOUT_WAIT_SECONDS = 2.0
HALTED_RECHECK_SECONDS = 60.0
# A release that belongs to someone else does not change by retrying: look again
# slowly, in case its owner removes it.
CONFLICT_RECHECK_SECONDS = 300.0
UNLOADABLE_RECHECK_SECONDS = 30.0


def nothing(ctx: Context, seen: Observation) -> Result:
    if seen.obj is None:
        ctx.drift.forget(seen.key)  # gone; its release went with the finalizer
    return Result()


def refuse(ctx: Context, seen: Observation) -> Result:
    assert seen.obj is not None
    message = (
        f'release "{seen.release_name}" in {seen.namespace} exists and belongs to something else'
    )
    ready = conditions.condition(seen.obj.get("status"), conditions.READY) or {}
    already = ready.get("reason") == "ReleaseConflict" and ready.get("status") == "False"
    ctx.writer.status(seen.obj, Outcome(Kind.STALLED, "ReleaseConflict", message))
    if not already:  # one event for the conflict, not one per look
        ctx.events.record(seen.obj, "Warning", "ReleaseConflict", message)
        log.warning(
            "release belongs to something else, not touching it", extra=ctx.log_fields(seen)
        )
    return Result(requeue_after=CONFLICT_RECHECK_SECONDS)


def foreign_objects(
    ctx: Context, obj: dict[str, Any], seen: Observation, conflict: ForeignObjects
) -> Result:
    """Objects the chart renders exist and are someone else's (an ApplySet binding's
    deploy found them without its part-of label): nothing was written. Stalled, one
    Event per conflict, and looked at again slowly, in case their owner removes them."""
    ready = conditions.condition(obj.get("status"), conditions.READY) or {}
    already = ready.get("reason") == "ObjectConflict" and ready.get("message") == conflict.message
    ctx.writer.status(
        obj,
        Outcome(Kind.STALLED, "ObjectConflict", conflict.message),
        details=[Condition(conditions.RELEASE_FAILED, True, "ObjectConflict", conflict.message)],
        desired=seen.desired,
    )
    if not already:
        ctx.events.record(obj, "Warning", "ObjectConflict", conflict.message)
        log.warning(
            "objects the chart renders belong to something else, not touching them",
            extra={**ctx.log_fields(seen), "objects": list(conflict.objects)},
        )
    return Result(requeue_after=CONFLICT_RECHECK_SECONDS)


def hold(ctx: Context, seen: Observation) -> Result:
    assert seen.desired is not None and seen.obj is not None
    if ctx.rollout.halted(seen.desired.chart_digest):
        _rollout_halted(ctx, seen.obj)
        return Result(requeue_after=HALTED_RECHECK_SECONDS)
    return Result(requeue_after=ROLLOUT_WAIT_SECONDS)


def _rollout_halted(ctx: Context, obj: dict[str, Any]) -> None:
    failing = conditions.condition(obj.get("status"), conditions.RELEASE_FAILED) or {}
    if failing.get("status") == "True" and failing.get("reason") != "RolloutHalted":
        return  # its own failure (helm's message) says more than the halt would
    progress = ctx.rollout.progress()
    message = (
        f"The rollout of a new chart to this binding's releases halted after "
        f"{progress.failed} of {progress.upgraded + progress.failed} upgrades failed; "
        "this release keeps its current chart until the chart changes again"
    )
    ctx.writer.status(
        obj,
        Outcome(Kind.HALTED, "RolloutHalted", message),
        details=[Condition(conditions.RELEASE_FAILED, True, "RolloutHalted", message)],
    )


def stall(ctx: Context, seen: Observation) -> Result:
    assert seen.obj is not None
    if seen.name_problem is not None:
        problems, reason = [seen.name_problem], "InvalidReleaseName"
    else:
        problems, reason = list(seen.problems), "SchemaViolation"
    message = "; ".join(problems)
    invalid = conditions.condition(seen.obj.get("status"), conditions.INVALID) or {}
    ctx.writer.status(
        seen.obj,
        Outcome(Kind.STALLED, reason, message, ready_reason="Invalid"),
        details=[Condition(conditions.INVALID, True, reason, message)],
    )
    if invalid.get("status") != "True":
        ctx.events.record(seen.obj, "Warning", "InvalidSpec", message)
        log.info("spec is invalid, not installing", extra=ctx.log_fields(seen))
    return Result()


def give_up(ctx: Context, seen: Observation) -> Result:
    """Retries used up for this desired state (controller/retries.py): say so, try nothing."""
    assert seen.obj is not None and seen.desired is not None
    failing = conditions.condition(seen.obj.get("status"), conditions.RELEASE_FAILED) or {}
    failures = retries.failures_so_far(seen.obj, seen.desired.digest)
    ctx.writer.status(
        seen.obj,
        _exhausted(failures, seen.release_name, str(failing.get("message") or "")),
        desired=seen.desired,
    )
    return Result(stalled=True)


def _exhausted(failures: int, release: str, last_error: str) -> Outcome:
    message = retries.exhausted_message(failures, release, last_error)
    return Outcome(Kind.STALLED, retries.RETRIES_EXHAUSTED, message)


def failed(ctx: Context, obj: dict[str, Any], seen: Observation, error: HelmError) -> bool:
    """Record a failed Helm action; True when it used up the object's retries."""
    if error.retryable:
        return False  # helm could not be reached: says nothing about the release
    assert seen.desired is not None  # only a validated desired state reaches Helm
    if isinstance(error, RenderOverBudget):
        reason = "RenderBudgetExceeded"
    else:
        reason = "Timeout" if error.timed_out else "HelmError"
    # Helm's message may quote a chart's `fail` text or a value: sensitive ones go.
    message = ctx.scrub(seen, obj, error.message)
    failures = retries.after_failure(obj, seen.desired.digest)
    gave_up = retries.exhausted(failures.count, ctx.binding.release.retries)
    outcome = (
        _exhausted(failures.count, seen.release_name, message)
        if gave_up
        else Outcome(Kind.RETRYING, "ReleaseFailed", message)
    )
    ctx.writer.status(
        obj,
        outcome,
        details=[
            Condition(conditions.RELEASE_FAILED, True, reason, message),
            Condition(conditions.INVALID, False, "Valid"),
        ],
        desired=seen.desired,
        extra={"failures": failures.to_status()},
    )
    ctx.events.record(obj, "Warning", "ReleaseFailed", message)
    # the log gets the action and Helm's error code, never text that may hold values
    log.warning("helm %s failed (%s)", error.action, error.code, extra=ctx.log_fields(seen))
    if gave_up:
        ctx.events.record(obj, "Warning", retries.RETRIES_EXHAUSTED, outcome.message)
        log.warning(
            "giving up after %d failed attempt(s), until the spec, the chart or the "
            "retry annotation changes",
            failures.count,
            extra=ctx.log_fields(seen),
        )
    return gave_up


def helm_failed(ctx: Context, obj: dict[str, Any], seen: Observation, error: HelmError) -> Result:
    """A Helm action failed: stalled once its retries are used up, else retried with
    backoff (ReconcileError)."""
    if failed(ctx, obj, seen, error):
        return Result(stalled=True)
    raise ReconcileError(ctx.scrub(seen, obj, str(error))) from error


def untrusted(ctx: Context, obj: dict[str, Any] | None, error: HelmError) -> Result:
    """The release's records cannot be trusted (a record does not verify, or names
    objects outside the object's namespace and allowed kinds): the object says
    so, one Event is recorded, and no Helm action touches anything."""
    if obj is None or ctx.dry_run:
        return Result()
    message = ctx.scrub_by_binding(obj, error.message)
    ready = conditions.condition(obj.get("status"), conditions.READY) or {}
    already = ready.get("reason") == "ReleaseUntrusted" and ready.get("message") == message
    ctx.writer.status(obj, _untrusted(message))
    if not already:
        ctx.events.record(obj, "Warning", "ReleaseUntrusted", message)
        log.warning(
            "release record refused (%s), touching nothing",
            error.code,
            extra={"kind": ctx.binding.kind, "object": obj["metadata"].get("name")},
        )
    return Result(requeue_after=CONFLICT_RECHECK_SECONDS)


def _untrusted(message: str) -> Outcome:
    """Nothing was touched; it stays so until the records are repaired or removed."""
    return Outcome(Kind.STALLED, "ReleaseUntrusted", f"Refusing to act on the release: {message}")


def unloadable(ctx: Context, seen: Observation) -> Result:
    """The binding's chart cannot be loaded: the object says so, and is looked at
    again when the registry next retries the chart."""
    assert seen.load_error is not None
    if seen.obj is not None and not ctx.dry_run:
        ctx.writer.status(seen.obj, _unloadable(seen.load_error))
    return Result(requeue_after=UNLOADABLE_RECHECK_SECONDS)


def _unloadable(error: BindingLoadError) -> Outcome:
    message = f"The binding's chart cannot be loaded, so this object is not reconciled: {error}"
    return Outcome(Kind.NOT_RECONCILED, "BindingUnloadable", message)


def binding_unloadable(error: BindingLoadError) -> list[Condition]:
    """The conditions of an object whose binding cannot be loaded: not Ready, and why,
    for `kubectl get`."""
    return summarize(_unloadable(error))


def unreadable(ctx: Context, seen: Observation) -> Result:
    """`helm status` failed. For a reason retrying alone may not fix (the binding's
    ServiceAccount may not read Helm's Secrets there, say) the object says why; the
    read is retried with backoff either way."""
    error = seen.read_error
    assert error is not None
    if seen.obj is not None and not ctx.dry_run and not error.retryable:
        message = f"Cannot read the release: {ctx.scrub_by_binding(seen.obj, error.message)}"
        ctx.writer.status(seen.obj, Outcome(Kind.RETRYING, "ReleaseUnreadable", message))
    raise ReconcileError(f"reading the release: {error}") from error


def service_account_required(ctx: Context, seen: Observation) -> Result:
    """The binding names no ServiceAccount and the controller acts only as one: the
    object says so and nothing else happens. Not even `helm status` runs, and a
    deleting object keeps its finalizer, so its release is neither read nor
    orphaned as the controller's own identity. Bindings change only with a restart,
    so there is nothing to look at again."""
    obj = seen.obj
    if obj is None or ctx.dry_run:
        return Result()
    message = (
        f'The binding "{ctx.binding.name}" names no serviceAccountName, and this controller '
        "runs every Helm action as a ServiceAccount of the object's namespace "
        "(--require-service-account), so this object is not reconciled"
    )
    reason = "ServiceAccountRequired"
    ready = conditions.condition(obj.get("status"), conditions.READY) or {}
    ctx.writer.status(obj, Outcome(Kind.STALLED, reason, message))
    if ready.get("reason") != reason:  # one event, not one per resync
        ctx.events.record(obj, "Warning", reason, message)
    return Result()
