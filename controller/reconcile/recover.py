"""RECOVER: a release of ours left pending-* (pending-install, pending-upgrade,
pending-rollback) is rolled back to its previous revision, or removed when it has
none, so the next reconcile can install or upgrade it.

Only the Lease holder runs helm, one worker per key, and helm dies with its
controller: a pending release was abandoned by a crash, never left by a live action.
"""

from __future__ import annotations

from controller.reconcile.apply import progressing
from controller.reconcile.context import Context, log
from controller.reconcile.observe import UNTRUSTED_CODES, Observation
from controller.reconcile.outcomes import helm_failed, untrusted
from controller.reconcile.ports import Result
from lostromos.helmengine import HelmError


def recover(ctx: Context, seen: Observation) -> Result:
    current = seen.release
    assert current is not None and seen.obj is not None  # decide() saw a pending release
    obj = progressing(
        ctx,
        ctx.writer.ensure_finalizer(seen.obj),
        "Recovering",
        f"Recovering release {current.name} left {current.status}",
    )
    timeout = ctx.binding.release.timeout_seconds
    try:
        if current.revision <= 1:
            ctx.helm.uninstall(
                current.name,
                seen.namespace,
                timeout_seconds=timeout,
                impersonate=ctx.binding.helm_user(seen.namespace),
                confine=ctx.binding.confinement(seen.namespace),
            )
        else:
            ctx.helm.rollback(
                current.name,
                seen.namespace,
                current.revision - 1,
                timeout_seconds=timeout,
                impersonate=ctx.binding.helm_user(seen.namespace),
                max_history=ctx.binding.release.max_history,
                confine=ctx.binding.confinement(seen.namespace),
            )
    except HelmError as error:
        if error.code in UNTRUSTED_CODES:
            return untrusted(ctx, obj, error)
        return helm_failed(ctx, obj, seen, error)
    ctx.events.record(
        obj,
        "Warning",
        "Recovered",
        f"Release {current.name} was left {current.status} at revision "
        f"{current.revision}; recovered it before retrying",
    )
    log.warning("recovered release left %s", current.status, extra=ctx.log_fields(seen))
    return Result(requeue_after=0)  # the next reconcile installs or upgrades
