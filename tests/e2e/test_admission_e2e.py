"""Admission end to end through real kubectl on the real API server: deprecation
warnings, server-side dry runs, refused updates, a Site without a spec, the status
subresource, and hostile specs (huge strings, deep nesting)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import Cluster

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DENIED = 'admission webhook "validation.lostromos.dev" denied the request'


def site(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    document = copy.deepcopy(yaml.safe_load((EXAMPLES / "site.yaml").read_text()))
    document["metadata"] = {"name": name, "namespace": namespace}
    document["spec"].update(spec)
    return document


def create(
    cluster: Cluster, manifest: dict[str, Any] | str, *extra: str
) -> subprocess.CompletedProcess[str]:
    # JSON, not YAML: exact for huge and deeply nested values, and kubectl reads it as is.
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    return cluster.kubectl("create", *extra, "-f", "-", stdin=text, check=False)


def assert_webhook_still_answers(cluster: Cluster, namespace: str, name: str) -> None:
    """A valid Site goes through both webhooks and is stored with its defaults."""
    cluster.apply(site(namespace, name))
    stored = cluster.get("site", name, namespace)
    assert stored is not None
    assert stored["spec"]["php"]["version"] == "8.3"


def test_deprecated_field_prints_a_warning_and_is_admitted(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-deprecated")
    manifest = site(namespace, "legacy", php={"version": "8.2", "legacyMode": True})

    result = cluster.apply(manifest)

    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings, f"kubectl printed no warning:\n{result.stderr}"
    # said once, without "deprecated: Deprecated:"
    assert warnings == [
        "Warning: spec.php.legacyMode is deprecated: turned on the PHP 7 "
        "compatibility shim. Replaced by php.version; choose a supported "
        "version instead. This field is ignored in chart 2.0.0."
    ], warnings
    stored = cluster.get("site", "legacy", namespace)
    assert stored is not None
    assert stored["spec"]["php"] == {
        "version": "8.2",
        "legacyMode": True,
        "workers": 8,
        "memoryLimit": "256M",
    }


def test_site_without_deprecated_fields_prints_no_warning(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-no-warning")
    result = cluster.apply(site(namespace, "modern"))
    assert "Warning:" not in result.stderr


def test_a_deprecated_flag_set_to_false_prints_no_warning(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-flag-off")
    result = cluster.apply(site(namespace, "off", php={"version": "8.3", "legacyMode": False}))
    assert "Warning:" not in result.stderr


def test_server_dry_run_shows_the_defaulted_object_and_stores_nothing(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-dry-run")

    result = cluster.apply(site(namespace, "preview"), extra=("--dry-run=server", "-o", "yaml"))

    shown = yaml.safe_load(result.stdout)
    assert shown["metadata"]["name"] == "preview"
    spec = shown["spec"]
    assert spec["domain"] == "blog.example.com"  # given
    assert spec["replicas"] == 1  # defaulted by the webhook from here on
    assert spec["php"] == {"version": "8.3", "workers": 8, "memoryLimit": "256M"}
    assert spec["storage"] == {"size": "10Gi", "accessMode": "ReadWriteOnce"}
    assert spec["plugins"][0] == {"name": "akismet", "version": "5.3", "enabled": True}
    assert spec["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert cluster.get("site", "preview", namespace) is None
    listing = cluster.kubectl("get", "sites", "-n", namespace, "-o", "name").stdout
    assert listing.strip() == ""


def test_server_dry_run_of_an_invalid_site_is_denied_and_stores_nothing(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-dry-run-invalid")
    manifest = site(namespace, "preview-bad", replicas=0, php={"version": "7.4"})

    result = cluster.apply(manifest, check=False, extra=("--dry-run=server",))

    assert result.returncode != 0
    assert DENIED in result.stderr
    assert "spec.replicas" in result.stderr
    assert "spec.php.version" in result.stderr
    assert '"7.4"' in result.stderr
    assert cluster.get("site", "preview-bad", namespace) is None


def test_update_that_makes_a_site_invalid_is_refused_and_nothing_changes(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-update")
    cluster.apply(site(namespace, "steady", replicas=2))
    before = cluster.get("site", "steady", namespace)
    assert before is not None

    applied = cluster.apply(site(namespace, "steady", replicas=50, theme="dark"), check=False)
    patched = cluster.kubectl(
        "patch",
        "site",
        "steady",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"php": {"workers": 0}}}),
        check=False,
    )

    assert applied.returncode != 0
    assert DENIED in applied.stderr
    assert 'Site "steady"' in applied.stderr
    assert "spec.replicas" in applied.stderr and "50" in applied.stderr
    assert "spec.theme" in applied.stderr or "theme" in applied.stderr
    assert patched.returncode != 0
    assert DENIED in patched.stderr
    assert "spec.php.workers" in patched.stderr
    after = cluster.get("site", "steady", namespace)
    assert after is not None
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]


def test_site_with_no_spec_is_defaulted_then_refused_for_its_required_fields(
    cluster: Cluster,
) -> None:
    namespace = cluster.namespace("adm-no-spec")
    manifest = {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": "empty", "namespace": namespace},
    }

    result = create(cluster, manifest)

    assert result.returncode != 0
    assert DENIED in result.stderr
    assert "spec.domain" in result.stderr
    assert "spec.adminEmail" in result.stderr
    # The CRD requires spec: only the mutating webhook's defaulted spec got the object
    # past the API server's own schema check to the validating webhook.
    assert "Required value" not in result.stderr
    assert cluster.get("site", "empty", namespace) is None


def test_site_with_only_required_fields_gets_the_full_defaulted_spec(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-minimal")
    manifest = {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": "minimal", "namespace": namespace},
        "spec": {"domain": "minimal.example.com", "adminEmail": "ops@example.com"},
    }

    result = create(cluster, manifest, "-o", "json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["spec"] == {
        "domain": "minimal.example.com",
        "adminEmail": "ops@example.com",
        "replicas": 1,
        "image": {"repository": "wordpress", "tag": "", "pullPolicy": "IfNotPresent"},
        "php": {"version": "8.3", "workers": 8, "memoryLimit": "256M"},
        "plugins": [],
        "storage": {"size": "10Gi", "accessMode": "ReadWriteOnce"},
        "tls": {"enabled": False, "secretName": ""},
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "podAnnotations": {},
    }


def test_status_subresource_is_not_checked_by_the_webhook(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-status")
    cluster.apply(site(namespace, "status-site"))
    # Nothing in here is a valid Site spec; the webhook must not look at it.
    garbage = {
        "status": {
            "observedGeneration": 987654,
            "conditions": [
                {
                    "type": "Garbage",
                    "status": "Unknown",
                    "reason": "NotChecked",
                    "message": 'spec.replicas: "many" \u2603 ' + "x" * 2000,
                }
            ],
            "release": {"name": "", "revision": -3, "status": "nonsense"},
        }
    }

    result = cluster.kubectl(
        "patch",
        "site",
        "status-site",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(garbage),
        "-o",
        "json",
    )

    patched = json.loads(result.stdout)
    assert patched["status"]["observedGeneration"] == 987654
    assert patched["status"]["release"]["revision"] == -3
    conditions = {c["type"]: c for c in patched["status"]["conditions"]}
    assert conditions["Garbage"]["reason"] == "NotChecked"
    assert patched["spec"]["domain"] == "blog.example.com"


def test_huge_string_is_refused_with_a_short_clear_message(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-huge")
    huge = "a" * 1_000_000
    manifest = site(namespace, "huge", domain=huge)

    result = create(cluster, manifest)

    assert result.returncode != 0
    assert DENIED in result.stderr
    assert "spec.domain" in result.stderr
    assert "1000000 characters" in result.stderr
    assert "at most 253 characters" in result.stderr
    assert len(result.stderr) < 5_000, "the offending value must be shortened"
    assert cluster.get("site", "huge", namespace) is None
    assert_webhook_still_answers(cluster, namespace, "after-huge")


def nested(depth: int) -> dict[str, Any]:
    innermost: dict[str, Any] = {"leaf": True}
    for _ in range(depth):
        innermost = {"a": innermost}
    return innermost


def test_deeply_nested_spec_is_refused_with_a_clear_message(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-deep")
    manifest = site(namespace, "deep", extra=nested(150))

    result = create(cluster, manifest)

    assert result.returncode != 0
    assert DENIED in result.stderr
    assert "spec.extra.a.a" in result.stderr
    assert "nested more than 100 levels deep" in result.stderr
    assert cluster.get("site", "deep", namespace) is None
    assert_webhook_still_answers(cluster, namespace, "after-deep")


def test_nesting_beyond_the_json_parser_is_refused_and_the_webhook_survives(
    cluster: Cluster,
) -> None:
    namespace = cluster.namespace("adm-deeper")
    # Written out by hand: json.dumps itself stops at Python's recursion limit.
    depth = 5000
    manifest = json.dumps(site(namespace, "deeper", extra="EXTRA"))
    manifest = manifest.replace('"EXTRA"', '{"a":' * depth + "{}" + "}" * depth)

    result = create(cluster, manifest)

    assert result.returncode != 0
    assert cluster.get("site", "deeper", namespace) is None
    assert_webhook_still_answers(cluster, namespace, "after-deeper")
    # The API server accepts this nesting and passes it on; the user must learn why
    # the Site is refused, not that a webhook call failed.
    assert "nest" in result.stderr and "deep" in result.stderr, result.stderr[:2000]


def test_site_whose_release_name_helm_refuses_is_denied_at_apply(cluster: Cluster) -> None:
    namespace = cluster.namespace("adm-release-name")
    name = "s" * 54  # a valid Kubernetes name, one character too long for a Helm release

    result = cluster.apply(site(namespace, name), check=False)

    assert result.returncode != 0
    assert DENIED in result.stderr
    assert (
        f'metadata.name: release name "{name}" (from template "{{name}}") is 54 characters; '
        "Helm allows at most 53"
    ) in result.stderr
    assert cluster.get("site", name, namespace) is None
    assert_webhook_still_answers(cluster, namespace, "s" * 53)
