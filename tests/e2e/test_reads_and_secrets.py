"""What a release may read, and what no message may say, on the real API server.

The controller runs in the default mode (no `serviceAccountName`): the engine
acts with the controller's own identity, which may read every namespace's
Secrets. A chart's `lookup` must still reach only the object's namespace
(the engine's request scope), and a `sensitivePaths` value that a template
prints in `fail`, or that the API server quotes in a refusal, must not appear
in the admission denial, `lostromos check`, the object's status, its Events,
or the controller's and the engine's logs.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.controllerkit import ROOT, BoundKind, ControllerProcess, controller_for
from tests.e2e.webhookkit import OwnWebhook
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e

GOOD = {"owner": "team-r", "image": {"tag": "1.0"}}
LEAK_TEMPLATE = """\
{{- if .Values.leak }}
{{- fail (printf "the token %s is not accepted here" .Values.token) }}
{{- end }}
{{- if .Values.labelToken }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-labelled
  labels:
    token: {{ .Values.token | quote }}
{{- end }}
"""


def leaky_chart(tmp_path: Path) -> Path:
    """tests/e2e/charts/render, plus a secret `token` that templates may print."""
    chart = tmp_path / "leaky"
    shutil.copytree(ROOT / "tests" / "e2e" / "charts" / "render", chart)
    schema_path = chart / "values.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["token"] = {"type": "string"}
    schema["properties"]["leak"] = {"type": "boolean"}
    schema["properties"]["labelToken"] = {"type": "boolean"}
    schema_path.write_text(json.dumps(schema))
    (chart / "templates" / "leak.yaml").write_text(LEAK_TEMPLATE)
    return chart


def manifest(kind: BoundKind, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{kind.resource.split('.', 1)[1]}/v1",
        "kind": kind.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def message_of(kind: BoundKind, name: str, namespace: str, condition: str) -> str:
    return str((kind.condition(name, namespace, condition) or {}).get("message") or "")


def test_lookup_reads_only_the_objects_namespace(
    cluster: Cluster, tmp_path: Path, namespace: str, controllers: list[ControllerProcess]
) -> None:
    victim = cluster.namespace(f"{namespace}-victim")
    password = "victim-" + secrets.token_hex(8)
    cluster.kubectl(
        "create", "secret", "generic", "vault", "-n", victim, f"--from-literal=password={password}"
    )
    cluster.kubectl(
        "create", "secret", "generic", "shared", "-n", namespace, "--from-literal=motto=ours"
    )
    kind = BoundKind(cluster, tmp_path, source=ROOT / "tests" / "e2e" / "charts" / "render")
    controller_for(cluster, kind, tmp_path, controllers).start()

    # Its own namespace's Secret: lookup works as before.
    own = {**GOOD, "copySecret": {"namespace": namespace, "name": "shared"}}
    cluster.apply(manifest(kind, "own", namespace, own))
    eventually(lambda: kind.ready("own", namespace), timeout=120, message="own-namespace lookup")
    copied = cluster.get("configmap", "own", namespace)
    assert copied is not None
    assert copied["data"]["copied-motto"] == base64.b64encode(b"ours").decode()

    # Another namespace's Secret, with the controller's identity able to read it.
    spy = {**GOOD, "copySecret": {"namespace": victim, "name": "vault"}}
    cluster.apply(manifest(kind, "spy", namespace, spy))
    refused = f"lostromos refused GET /api/v1/namespaces/{victim}/secrets/vault"

    def refusal() -> str | None:
        # Read once per try: a retry may already be running ("Running helm upgrade ...").
        said = message_of(kind, "spy", namespace, "Ready")
        return said if refused in said else None

    message = eventually(
        refusal, timeout=120, message="lookup of another namespace's Secret refused"
    )
    assert f'its own namespace "{namespace}"' in message, message
    assert cluster.get("configmap", "spy", namespace) is None
    encoded = base64.b64encode(password.encode()).decode()
    listing = cluster.kubectl("get", "configmaps", "-n", namespace, "-o", "json").stdout
    assert encoded not in listing and password not in listing

    # A list across every namespace is refused the same way.
    everywhere = {**GOOD, "copySecret": {"namespace": "", "name": ""}}
    cluster.apply(manifest(kind, "everywhere", namespace, everywhere))
    eventually(
        lambda: (
            "lostromos refused GET /api/v1/secrets"
            in message_of(kind, "everywhere", namespace, "Ready")
        ),
        timeout=120,
        message="lookup across all namespaces refused",
    )


def test_a_sensitive_value_is_in_no_message(
    cluster: Cluster, tmp_path: Path, namespace: str, controllers: list[ControllerProcess]
) -> None:
    token = "tok " + secrets.token_hex(10)  # the space makes it an invalid label value too
    chart = leaky_chart(tmp_path)
    served = BoundKind(cluster, tmp_path, source=chart, sensitivePaths=["token"])
    bare = BoundKind(cluster, tmp_path, source=chart, sensitivePaths=["token"])
    webhook = OwnWebhook(cluster, served.bindings_path, tmp_path / "webhook.log").start()
    try:
        leaking = {**GOOD, "token": token, "leak": True}
        # Admission: the denial names the template's failure, not the token.
        result = cluster.apply(manifest(served, "leaky", namespace, leaking), check=False)
        assert result.returncode != 0
        assert "the token <redacted> is not accepted here" in result.stderr, result.stderr
        assert token not in result.stderr
    finally:
        webhook.stop()
    webhook_log = (tmp_path / "webhook.log").read_text()
    assert token not in webhook_log

    # lostromos check renders as admission does.
    objects = tmp_path / "leaky.yaml"
    objects.write_text(yaml.safe_dump(manifest(served, "leaky", namespace, leaking)))
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "lostromos",
            "check",
            "--config",
            str(served.bindings_path),
            "--helm-engine",
            str(cluster.tools["helm-engine"]),
            str(objects),
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=cluster.env,
        timeout=120,
    )
    assert "<redacted>" in check.stdout + check.stderr, check.stdout + check.stderr
    assert token not in check.stdout + check.stderr

    # The controller (no webhook on this kind): a failed install, then an upgrade the
    # API server refuses while quoting the value (Helm logs that failure itself).
    controller = controller_for(cluster, bare, tmp_path, controllers).start()
    cluster.apply(manifest(bare, "leaky", namespace, leaking))
    eventually(
        lambda: "<redacted>" in message_of(bare, "leaky", namespace, "Ready"),
        timeout=120,
        message="install failure recorded",
    )
    cluster.apply(manifest(bare, "labelled", namespace, {**GOOD, "token": token}))
    eventually(lambda: bare.ready("labelled", namespace), timeout=120, message="labelled ready")
    labelled = {**GOOD, "token": token, "labelToken": True}
    cluster.apply(manifest(bare, "labelled", namespace, labelled))
    eventually(
        lambda: "Invalid value" in message_of(bare, "labelled", namespace, "Ready"),
        timeout=120,
        message="upgrade refused by the API server",
    )
    eventually(
        lambda: "upgrade failed" in controller.log(),
        timeout=60,
        message="the engine logged Helm's upgrade failure",
    )
    for name in ("leaky", "labelled"):
        status = json.dumps((bare.get(name, namespace) or {}).get("status"))
        assert token not in status, status
    listing = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
    events = "\n".join(str(event.get("message")) for event in listing["items"])
    assert "<redacted>" in events
    assert token not in events
    assert token not in controller.log()
