"""The Helm release that belongs to a bound object: its name, and whether Helm takes it.

The name comes from the binding's template and the object's metadata only,
never from status (anyone allowed to write status could otherwise point an
object at somebody else's release). The webhook refuses an object whose
release name Helm would refuse, and the controller computes the same name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lostromos.config import Binding

# Helm v4.3.1, pkg/chart/v2/util/validate_name.go (ValidateReleaseName): Kubernetes
# allows 63 characters in most names; Helm keeps 10 for what charts append to it.
MAX_RELEASE_NAME = 53
# The same expression as Helm's validName; fullmatch because Go's `$` is the end of the
# text, where Python's also matches before a final newline.
_VALID_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def release_name(binding: Binding, metadata: Mapping[str, Any]) -> str:
    """The release name for an object with this metadata (it may be one Helm refuses)."""
    return binding.release.release_name(
        name=str(metadata.get("name") or ""),
        namespace=str(metadata.get("namespace") or ""),
        kind=binding.kind,
        binding=binding.name,
    )


def release_name_problem(name: str) -> str | None:
    """Why Helm would refuse `name` as a release name ("is 54 characters; ..."), or None."""
    if not name:
        return "is empty; Helm needs a release name"
    if len(name) > MAX_RELEASE_NAME:
        return f"is {len(name)} characters; Helm allows at most {MAX_RELEASE_NAME}"
    if not _VALID_NAME.fullmatch(name):
        return (
            "is not one Helm accepts: lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return None


def release_name_denial(binding: Binding, metadata: Mapping[str, Any]) -> str | None:
    """The line a person sees when the object's release name is one Helm refuses."""
    name = release_name(binding, metadata)
    problem = release_name_problem(name)
    if problem is None:
        return None
    template = json.dumps(binding.release.name_template)
    return f"metadata.name: release name {json.dumps(name)} (from template {template}) {problem}"
