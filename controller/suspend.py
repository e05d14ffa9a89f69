"""Suspend and resume, as Flux does for a HelmRelease.

`kubectl annotate site blog lostromos.dev/suspend=true` stops every Helm action for
that object (install, upgrade, drift repair, recovery, retries) until the annotation
is removed or set to anything else; its release is left exactly as it is. Deletion
is the one exception: a suspended object that is deleted is still uninstalled, so a
suspension can never hold up a namespace's deletion. Spec edits made meanwhile are
admitted and stored as usual and are applied on resume, as any missed change is:
the reconciler is level-based.
"""

from __future__ import annotations

from typing import Any

SUSPEND_ANNOTATION = "lostromos.dev/suspend"


def suspended(obj: dict[str, Any] | None) -> bool:
    if obj is None:
        return False
    metadata = obj.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return False
    annotations = metadata.get("annotations") or {}
    return str(annotations.get(SUSPEND_ANNOTATION, "")).strip().lower() == "true"
