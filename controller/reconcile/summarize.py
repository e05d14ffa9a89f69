"""SUMMARIZE: Ready, Reconciling and Stalled, derived from what an action came to.

Every action ends in an `Outcome` (what happened, in one word of `Kind`, with a
reason and a message); this is the one place that turns an Outcome into the
kstatus summary conditions (controller/status.py explains what each means to
`kubectl wait`, Flux and Argo CD), as Flux's `summarize` does for a HelmRelease.
No action writes Ready itself. The detail conditions (Released, Invalid,
ReleaseFailed) are the actions' own and sit beside the summary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import assert_never

from controller.status import READY, RECONCILING, STALLED, Condition

DEPLOYED = "Deployed"
PROGRESSING = "Progressing"


class Kind(enum.Enum):
    PROGRESSING = "progressing"  # a Helm action runs now: Ready Unknown, Reconciling
    DEPLOYED = "deployed"  # the release is deployed for this desired state: Ready
    NOT_DEPLOYED = "not-deployed"  # Helm finished, the release is not deployed
    RETRYING = "retrying"  # failed; the work queue tries again with backoff
    STALLED = "stalled"  # nothing changes without a change: Ready False, Stalled
    # A chart rollout halted: Stalled, while Ready stays what the release it keeps earned.
    HALTED = "halted"
    # The binding cannot be loaded: nothing about the object is known but that.
    NOT_RECONCILED = "not-reconciled"


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    reason: str
    message: str = ""
    # Ready's reason when it differs from the outcome's (an invalid spec is Ready=False
    # "Invalid", Stalled=True "SchemaViolation").
    ready_reason: str | None = None


def summarize(outcome: Outcome) -> list[Condition]:
    """The summary conditions an outcome leaves on the object."""
    reason, message = outcome.reason, outcome.message
    match outcome.kind:
        case Kind.PROGRESSING:
            return [
                Condition(READY, None, PROGRESSING, message),
                Condition(RECONCILING, True, reason, message),
                Condition(STALLED, False, reason),
            ]
        case Kind.DEPLOYED | Kind.NOT_DEPLOYED:
            deployed = outcome.kind is Kind.DEPLOYED
            return [
                Condition(READY, deployed, DEPLOYED if deployed else "NotDeployed", message),
                Condition(RECONCILING, False, reason),
                Condition(STALLED, False, reason),
            ]
        case Kind.RETRYING:
            return [
                Condition(READY, False, outcome.ready_reason or reason, message),
                Condition(RECONCILING, False, reason),
                Condition(STALLED, False, "Retrying", "Retrying with backoff"),
            ]
        case Kind.STALLED:
            return [
                Condition(READY, False, outcome.ready_reason or reason, message),
                Condition(RECONCILING, False, reason),
                Condition(STALLED, True, reason, message),
            ]
        case Kind.HALTED:
            return [Condition(STALLED, True, reason, message)]
        case Kind.NOT_RECONCILED:
            return [Condition(READY, False, reason, message)]
        case _:
            assert_never(outcome.kind)
