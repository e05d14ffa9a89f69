"""DELETE: a deleting object lets go of its release. Ours is uninstalled (an
ApplySet's members deleted), then the finalizer is removed; one that is absent or
someone else's is left alone and only the finalizer goes, so deleting an object
can never remove what it does not own.
"""

from __future__ import annotations

from controller.ownership import Ownership
from controller.reconcile.context import Context, log
from controller.reconcile.observe import UNTRUSTED_CODES, Observation
from controller.reconcile.outcomes import untrusted
from controller.reconcile.ports import ReconcileError, Result
from lostromos.helmengine import HelmError


def uninstall(ctx: Context, seen: Observation) -> Result:
    assert seen.obj is not None
    try:
        ctx.deployer.remove(seen.obj, seen.release_name, seen.namespace)
    except HelmError as error:
        if error.code in UNTRUSTED_CODES:
            return untrusted(ctx, seen.obj, error)
        ctx.events.record(
            seen.obj, "Warning", "UninstallFailed", ctx.scrub(seen, seen.obj, error.message)
        )
        raise ReconcileError(ctx.scrub(seen, seen.obj, str(error))) from error
    ctx.events.record(seen.obj, "Normal", "Uninstalled", f"Uninstalled release {seen.release_name}")
    log.info("uninstalled release", extra=ctx.log_fields(seen))
    return release_finalizer(ctx, seen)


def release_finalizer(ctx: Context, seen: Observation) -> Result:
    assert seen.obj is not None
    if seen.owner is Ownership.FOREIGN:
        log.info(
            "deleting an object whose release belongs to something else: leaving the release alone",
            extra=ctx.log_fields(seen),
        )
    ctx.writer.remove_finalizer(seen.obj)
    ctx.drift.forget(seen.key)
    return Result()
