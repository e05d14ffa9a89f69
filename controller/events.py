"""Kubernetes Events on bound objects: what `kubectl describe` shows a user."""

from __future__ import annotations

import logging
import socket
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.status import now_rfc3339

log = logging.getLogger(__name__)
COMPONENT = "lostromos-controller"


class EventRecorder:
    def __init__(self, core: client.CoreV1Api, *, dry_run: bool = False) -> None:
        self.core = core
        self.dry_run = dry_run
        self.instance = socket.gethostname()

    def record(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        """Best effort: an event that cannot be written never fails a reconcile."""
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace", "default")
        timestamp = now_rfc3339()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{metadata.get('name', 'object')}.",
                         "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": metadata.get("name"),
                "namespace": namespace,
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": "lostromos.dev/controller",
            "reportingInstance": self.instance,
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "count": 1,
        }
        if self.dry_run:
            return
        try:
            self.core.create_namespaced_event(namespace, body)
        except (ApiException, OSError) as error:
            log.warning("could not record event %s: %s", reason, error,
                        extra={"object": f"{namespace}/{metadata.get('name')}"})
