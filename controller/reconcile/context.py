"""What every action unit is handed (`Context`), and the few things they all need of
it: the log line's fields, and the redaction of sensitive values from text Helm wrote.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from controller.informer import Key
from controller.reconcile.observe import Observation
from controller.reconcile.ports import (
    Deployer,
    DriftAcknowledger,
    Events,
    HelmActions,
    Result,
    RolloutGate,
)
from controller.reconcile.readiness import ReadyGate
from controller.reconcile.writer import ObjectWriter
from lostromos.config import Binding
from lostromos.redact import Redactor, redactor_for
from lostromos.renderpool import BudgetedRenderer

# every unit logs as the reconciler (operators filter on it)
log = logging.getLogger("controller.reconcile")


@dataclass
class Context:
    binding: Binding
    helm: HelmActions  # the Helm-only units (recover, adopt) act on releases through it
    deployer: Deployer  # writes, reads and removes what the object deploys
    events: Events
    writer: ObjectWriter
    drift: DriftAcknowledger
    rollout: RolloutGate
    dry_run: bool = False
    # renders each desired state within the binding's budget before Helm acts
    renderer: BudgetedRenderer | None = None
    # Ready waits for the release's workloads (readiness.py); None: it does not
    ready_gate: ReadyGate | None = None
    # Gated upgrades whose Helm action succeeded and whose workloads are still awaited:
    # key -> the rollout target. The slot is held until Ready settles (settle_rollout),
    # so the gate bounds Sites rolling out, not only Helm calls in progress.
    held: dict[Key, str] = field(default_factory=dict)
    held_lock: threading.Lock = field(default_factory=threading.Lock)

    def hold_rollout(self, key: Key, target: str) -> None:
        with self.held_lock:
            self.held[key] = target

    def settle_rollout(self, key: Key, succeeded: bool) -> None:
        """A gated upgrade's wait ended (Ready, the ready timeout, or the object went):
        its slot is given back and counted as the workloads came out."""
        with self.held_lock:
            target = self.held.pop(key, None)
        if target is not None:
            self.rollout.finish(target, succeeded=succeeded)

    def await_workloads(self, key: Key, result: Result) -> Result:
        """`result`, after a look at the object's wait for its workloads, if it has one."""
        return result if self.ready_gate is None else self.ready_gate.follow(key, result)

    def log_fields(self, seen: Observation) -> dict[str, Any]:
        metadata = (seen.obj or {}).get("metadata") or {}
        return {
            "kind": self.binding.kind,
            "namespace": metadata.get("namespace"),
            "object": metadata.get("name"),
            "release": seen.release_name or None,
        }

    def scrub(self, seen: Observation, obj: dict[str, Any], text: str) -> str:
        """`text` (Helm's message may quote a chart's `fail` text or a value) with the
        object's sensitive values taken out."""
        return self.redactor(seen).scrub(text, obj.get("spec") or {})

    def scrub_by_binding(self, obj: dict[str, Any], text: str) -> str:
        """As `scrub`, by the binding's sensitivePaths alone (no chart at hand)."""
        return redactor_for(None, self.binding.sensitive_paths).scrub(text, obj.get("spec") or {})

    def secrets(self, seen: Observation, obj: dict[str, Any]) -> list[str]:
        """The object's sensitive values: the engine scrubs them from what Helm says."""
        return self.redactor(seen).sensitive_values(obj.get("spec") or {})

    def redactor(self, seen: Observation) -> Redactor:
        redactor = seen.desired.redactor if seen.desired is not None else None
        if redactor is None:  # no chart at hand: the binding's sensitivePaths still count
            redactor = redactor_for(None, self.binding.sensitive_paths)
        return redactor
