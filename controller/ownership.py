"""Which release an object may touch: its name, and whether the release is its own.

The release name comes from the object's metadata and the binding's template
only. Status is never read here: anyone with `status` rights can write it, so
a name or an owner taken from status would let them aim helm at any release.

Ownership is recorded on the release itself, as Helm release labels: the
binding, and the object's namespace, name and UID. Those labels sit on a Secret
in the tenant's namespace that any Secret-writer there can forge, so they count
only on a record the Helm engine has verified: every record it writes carries
an HMAC under a key only the controller holds (controller/recordkey.py), over
the payload, name, namespace, revision and these labels. A release whose
history is signed is this object's when its owner-uid label is this object's
UID. A release with no signed record (made before signing, or by someone else)
is taken over only when the binding says `release.adopt: true`, or when it is
the very record the object's status already recorded (`recorded_unsigned`):
the migration of releases an earlier lostromos made. A history that mixes the
two, or has a record that does not verify, never reaches here: the engine
refuses it (code `unverified`).

Without a record key (an engine started by hand) records are not judged and
the labels and `legacy_marks` decide, as before signing.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Mapping
from typing import Any

from lostromos.config import Binding
from lostromos.helmengine import Release
from lostromos.releases import release_name
from lostromos.releases import release_name_problem as helm_name_problem

BINDING_LABEL = "lostromos.dev/binding"
NAMESPACE_LABEL = "lostromos.dev/owner-namespace"
NAME_LABEL = "lostromos.dev/owner-name"
UID_LABEL = "lostromos.dev/owner-uid"
OWNER_LABELS = (BINDING_LABEL, NAMESPACE_LABEL, NAME_LABEL, UID_LABEL)


def release_name_problem(name: str) -> str | None:
    """Why Helm would refuse `name` as a release name, naming the name and the rule.

    The rule is Helm's own, from lostromos.releases, the one admission and `check`
    apply too: an object the webhook admits is one the controller deploys.
    """
    problem = helm_name_problem(name)
    return None if problem is None else f"release name {name!r} {problem}"


# The desired state (controller.observe.desired_digest) a release revision was made
# for, on the signed record: a successor that finds its own release already deployed
# for this very state records it instead of upgrading to an identical revision.
DESIRED_LABEL = "lostromos.dev/desired-digest"


def desired_label(digest: str) -> str:
    """A label value (at most 63 characters) that names a desired-state digest."""
    return digest.removeprefix("sha256:")[:63]


def owner_labels(binding: Binding, metadata: Mapping[str, Any]) -> dict[str, str]:
    """The labels every install and upgrade puts on the release."""
    return {
        BINDING_LABEL: binding.name,
        NAMESPACE_LABEL: str(metadata.get("namespace", "")),
        NAME_LABEL: str(metadata.get("name", "")),
        UID_LABEL: str(metadata.get("uid", "")),
    }


class Ownership(enum.Enum):
    ABSENT = "absent"  # no release of that name: installing is safe
    OURS = "ours"  # owner-uid is this object's UID
    ADOPTABLE = "adoptable"  # no owner labels, and the binding or lostromos's marks allow it
    FOREIGN = "foreign"  # someone else's: touch nothing


def ownership(  # noqa: PLR0911 - one return per kind of record
    release: Release | None,
    binding: Binding,
    metadata: Mapping[str, Any],
    *,
    chart_name: str,
    had_finalizer: bool,
    recorded: Mapping[str, Any] | None = None,
) -> Ownership:
    """Whose `release` is; `recorded` is the object's status.release."""
    if release is None:
        return Ownership.ABSENT
    labels = release.labels
    uid = str(metadata.get("uid") or "")
    if release.record:
        return _judged(release, binding, uid, recorded)
    if UID_LABEL in labels:
        return Ownership.OURS if uid and labels[UID_LABEL] == uid else Ownership.FOREIGN
    if any(label in labels for label in OWNER_LABELS):
        return Ownership.FOREIGN  # half a record of an owner is not an invitation
    if binding.release.adopt:
        return Ownership.ADOPTABLE
    if legacy_marks(release, binding, metadata, chart_name=chart_name, had_finalizer=had_finalizer):
        return Ownership.ADOPTABLE
    return Ownership.FOREIGN


def _judged(
    release: Release, binding: Binding, uid: str, recorded: Mapping[str, Any] | None
) -> Ownership:
    """Ownership of a release whose records the engine judged with the record key."""
    labels = release.labels
    if release.record == "signed":
        return Ownership.OURS if uid and labels.get(UID_LABEL) == uid else Ownership.FOREIGN
    if labels.get(UID_LABEL, uid) != uid:
        return Ownership.FOREIGN
    if binding.release.adopt or recorded_unsigned(release, recorded):
        return Ownership.ADOPTABLE
    return Ownership.FOREIGN


def recorded_unsigned(release: Release, recorded: Mapping[str, Any] | None) -> bool:
    """Is this unsigned record the one the object's status recorded when an earlier
    lostromos wrote it: same name, namespace and revision, deployed, same deploy
    time and the same objects? A record forged or edited since (a pending
    revision added, a manifest changed, a third party's later release) differs
    in one of them. Status alone proves nothing (anyone with status rights can
    write it); together with the record it pins the one release to migrate."""
    if not recorded or release.status != "deployed":
        return False
    resources = [dict(item) for item in recorded.get("resources") or ()]
    return (
        recorded.get("name") == release.name
        and recorded.get("namespace") == release.namespace
        and recorded.get("revision") == release.revision
        and recorded.get("status") == "deployed"
        and bool(release.last_deployed)
        and recorded.get("lastDeployed") == release.last_deployed
        and resources == [dict(item) for item in release.resources]
    )


def legacy_marks(
    release: Release,
    binding: Binding,
    metadata: Mapping[str, Any],
    *,
    chart_name: str,
    had_finalizer: bool,
) -> bool:
    """Was this unlabeled release made by an earlier lostromos for this very object?

    Earlier versions wrote no owner labels, but every release they made has
    four marks together: the object already carried lostromos's finalizer
    (added before the first install, so an object lostromos never handled has
    none); the release name is the object's computed name; the chart is the
    binding's chart; and the release was first deployed after the object was
    created. creationTimestamp is set by the API server, so a release someone
    installed before the object existed cannot pass. The first upgrade writes
    the owner labels, so this is decided once per release.
    """
    if not had_finalizer:
        return False
    if release.name != release_name(binding, metadata) or release.chart_name != chart_name:
        return False
    created = parse_time(str(metadata.get("creationTimestamp") or ""))
    first = parse_time(release.first_deployed)
    if created is None or first is None:
        return False
    # creationTimestamp has whole seconds: compare at that precision.
    return first.replace(microsecond=0) >= created


def parse_time(text: str) -> datetime.datetime | None:
    """RFC 3339 as the API server and Helm write it (Helm adds nanoseconds)."""
    if not text:
        return None
    text = text.strip().replace("Z", "+00:00")
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match is None:
        return None
    fraction = (match.group(2) or "")[:7]  # Python takes at most microseconds
    try:
        parsed = datetime.datetime.fromisoformat(match.group(1) + fraction + match.group(3))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
