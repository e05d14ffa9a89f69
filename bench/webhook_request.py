"""The benchmarked request: a Site CREATE AdmissionReview as the API server
sends it for `kubectl apply -f examples/site.yaml`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SITE = ROOT / "examples" / "site.yaml"
# what the load generator's -vary replaces in each request by that request's number
SEQUENCE_MARKER = "__SEQ__"


def admission_review(operation: str = "CREATE") -> dict[str, Any]:
    """A Site AdmissionReview shaped like the one the API server sends for `kubectl apply`."""
    site = yaml.safe_load(EXAMPLE_SITE.read_text())
    applied = json.dumps(site, separators=(",", ":"))
    obj = copy.deepcopy(site)
    obj["metadata"] = {
        "name": "blog",
        "namespace": "default",
        "generation": 1,
        "uid": "5f1d2c1e-8a53-4c4e-9d1a-2f0b7b6c9e10",
        "creationTimestamp": "2025-01-01T00:00:00Z",
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied + "\n"},
        "managedFields": [
            {
                "apiVersion": "hosting.example.com/v1",
                "fieldsType": "FieldsV1",
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "time": "2025-01-01T00:00:00Z",
                "fieldsV1": {
                    "f:metadata": {
                        "f:annotations": {
                            ".": {},
                            "f:kubectl.kubernetes.io/last-applied-configuration": {},
                        }
                    },
                    "f:spec": {".": {}, "f:adminEmail": {}, "f:domain": {}, "f:plugins": {}},
                },
            }
        ],
    }
    gvk = {"group": "hosting.example.com", "version": "v1", "kind": "Site"}
    resource = {"group": "hosting.example.com", "version": "v1", "resource": "sites"}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0b5b0e6e-4f57-4d43-a8b5-3c6f0d7e2a11",
            "kind": gvk,
            "resource": resource,
            "requestKind": gvk,
            "requestResource": resource,
            "name": "blog",
            "namespace": "default",
            "operation": operation,
            "userInfo": {
                "username": "kubernetes-admin",
                "groups": ["system:masters", "system:authenticated"],
            },
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {
                "apiVersion": "meta.k8s.io/v1",
                "kind": "CreateOptions",
                "fieldManager": "kubectl-client-side-apply",
                "fieldValidation": "Strict",
            },
        },
    }


def numbered_domain(body: bytes, row: str) -> bytes:
    """The body with spec.domain unique to this row and, through the load
    generator's -vary, to each request in it: no spec is ever sent twice."""
    return body.replace(b"blog.example.com", f"blog-{row}-{SEQUENCE_MARKER}.example.com".encode())
