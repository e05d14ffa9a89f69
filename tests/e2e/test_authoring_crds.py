"""Authoring tools on the real API server: every generated CRD is accepted, `kubectl
explain` shows the chart's descriptions, and `check --against-cluster` finds the
stored objects a stricter chart would refuse."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lostromos.cli import main
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
CHARTS = sorted(
    [
        ROOT / "charts" / "site",
        *(p for p in (ROOT / "tests" / "charts").iterdir() if (p / "Chart.yaml").is_file()),
    ]
)
EXAMPLES = ROOT / "examples"


def slug(chart: Path) -> str:
    return chart.relative_to(ROOT).as_posix().replace("/", "-")


def generate(tmp_path: Path, chart: Path, group: str, mode: str) -> Path:
    output = tmp_path / f"{group}.yaml"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        code = main(
            [
                "crd",
                "generate",
                "--chart",
                str(chart),
                "--group",
                group,
                "--kind",
                "Thing",
                "--validation",
                mode,
            ]
        )
    assert code == 0
    output.write_text(buffer.getvalue())
    return output


def established(cluster: Cluster, name: str) -> bool:
    crd = json.loads(cluster.kubectl("get", "crd", name, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
    assert conditions.get("NonStructuralSchema") != "True", conditions
    return conditions.get("Established") == "True"


@pytest.mark.parametrize("mode", ["webhook", "full"])
@pytest.mark.parametrize("chart", CHARTS, ids=slug)
def test_every_generated_crd_is_accepted(
    cluster: Cluster, tmp_path: Path, chart: Path, mode: str
) -> None:
    group = f"{slug(chart)}-{mode}.authoring.example.com"
    manifest = generate(tmp_path, chart, group, mode)
    result = cluster.kubectl("apply", "-f", str(manifest))
    assert "Warning" not in result.stderr, result.stderr
    try:
        eventually(
            lambda: established(cluster, f"things.{group}"),
            timeout=30,
            message=f"things.{group} Established",
        )
        schema = yaml.safe_load(manifest.read_text())["spec"]["versions"][0]["schema"]
        spec_schema = schema["openAPIV3Schema"]["properties"]["spec"]
        for name, node in spec_schema.get("properties", {}).items():
            if node.get("description"):
                explained = eventually(
                    lambda name=name: (
                        cluster.kubectl(
                            "explain",
                            f"things.spec.{name}",
                            f"--api-version={group}/v1",
                            check=False,
                        ).stdout
                    ),
                    timeout=30,
                    message="explain",
                )
                assert node["description"].split()[0] in explained
                # kubectl explain prints the chart's type in both modes (<Object> otherwise;
                # an object whose values are all of one scalar type is a map)
                shown = {"object": "<Object>", "array": "<[]"}.get(
                    node.get("type", ""), f"<{node.get('type')}>"
                )
                values = node.get("additionalProperties")
                if node.get("type") == "object" and isinstance(values, dict) and "type" in values:
                    shown = f"<map[string]{values['type']}>"
                assert ("type" not in node) or shown in explained, (name, explained)
    finally:
        cluster.kubectl("delete", "crd", f"things.{group}", "--wait=false", check=False)


def test_kubectl_explain_shows_the_site_chart_descriptions(cluster: Cluster) -> None:
    php = cluster.kubectl("explain", "site.spec.php").stdout
    assert "PHP runtime settings." in php
    assert "PHP minor version the site runs on" in php
    name = cluster.kubectl("explain", "site.spec.plugins.name").stdout
    assert "Plugin slug as in the plugin directory" in name


def test_kubectl_explain_tells_what_to_write_in_the_shipped_crd(cluster: Cluster) -> None:
    """The default CRD judges nothing itself; its descriptions say what the webhook requires."""
    version = " ".join(cluster.kubectl("explain", "site.spec.php.version").stdout.split())
    assert 'One of: "8.1", "8.2", "8.3", "8.4". Default: "8.3"' in version
    email = " ".join(cluster.kubectl("explain", "site.spec.adminEmail").stdout.split())
    assert "Required. Email address of the site administrator" in email


@pytest.mark.parametrize(
    ("field", "shown"),
    [
        ("site.spec.replicas", "<integer>"),
        ("site.spec.domain", "<string>"),
        ("site.spec.php.version", "<string>"),
        ("site.spec.tls.enabled", "<boolean>"),
        ("site.spec.plugins", "<[]Object>"),
        ("site.spec.php", "<Object>"),
    ],
)
def test_kubectl_explain_shows_the_types_of_the_shipped_crd(
    cluster: Cluster, field: str, shown: str
) -> None:
    explained = cluster.kubectl("explain", field).stdout
    assert f"FIELD: {field.rpartition('.')[2]} {shown}" in explained, explained


def test_a_full_crd_enforces_the_schema_like_helm(cluster: Cluster, tmp_path: Path) -> None:
    group = "site-enforced.authoring.example.com"
    cluster.kubectl("apply", "-f", str(generate(tmp_path, ROOT / "charts" / "site", group, "full")))
    try:
        eventually(
            lambda: established(cluster, f"things.{group}"), timeout=30, message="Established"
        )
        namespace = cluster.namespace("authoring-enforced")
        thing = {
            "apiVersion": f"{group}/v1",
            "kind": "Thing",
            "metadata": {"name": "blog", "namespace": namespace},
            "spec": yaml.safe_load((EXAMPLES / "site.yaml").read_text())["spec"],
        }
        eventually(
            lambda: cluster.apply(thing, check=False).returncode == 0,
            timeout=30,
            message="valid Thing stored",
        )
        # An enum field keeps its type in kubectl explain (an allOf showed it as <Object>).
        explained = cluster.kubectl(
            "explain", "things.spec.php.version", f"--api-version={group}/v1"
        ).stdout
        assert "FIELD: version <string>" in explained, explained
        stored = json.loads(
            cluster.kubectl("get", f"things.{group}", "blog", "-n", namespace, "-o", "json").stdout
        )
        assert stored["spec"]["plugins"][0]["enabled"] is True  # the CRD's items default

        thing["metadata"]["name"] = "bad"
        thing["spec"]["php"] = {"version": "7.4"}
        thing["spec"]["replicas"] = 21
        refused = cluster.apply(thing, check=False)
        assert refused.returncode != 0
        assert "spec.php.version" in refused.stderr and "spec.replicas" in refused.stderr
    finally:
        cluster.kubectl("delete", "crd", f"things.{group}", "--wait=false", check=False)


def test_check_against_cluster_finds_what_a_stricter_chart_refuses(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = cluster.namespace("authoring-against")
    site = yaml.safe_load((EXAMPLES / "site.yaml").read_text())

    def make(name: str, **spec: object) -> None:
        document = {
            **site,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {**site["spec"], **spec},
        }
        cluster.apply(document)

    make("fine", php={"version": "8.4"})
    make("oldphp", php={"version": "8.2"})
    make("big", php={"version": "8.4"}, replicas=5)

    stricter = tmp_path / "site-2"
    shutil.copytree(ROOT / "charts" / "site", stricter)
    schema = json.loads((stricter / "values.schema.json").read_text())
    schema["properties"]["php"]["properties"]["version"]["enum"] = ["8.3", "8.4"]
    schema["properties"]["replicas"]["maximum"] = 3
    (stricter / "values.schema.json").write_text(json.dumps(schema))

    capsys.readouterr()
    code = main(
        [
            "check",
            "--against-cluster",
            "--config",
            str(ROOT / "lostromos.yaml"),
            "--binding",
            "site",
            "--chart",
            str(stricter),
            "--kubeconfig",
            str(cluster.kubeconfig),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert f"Site {namespace}/oldphp would become invalid:" in out
    assert '  spec.php.version: "8.2" is not allowed' in out
    assert f"Site {namespace}/big would become invalid:" in out
    assert "  spec.replicas: 5 is not allowed" in out
    assert f"{namespace}/fine" not in out

    # the same objects under the chart they were admitted with: nothing to report
    assert (
        main(
            [
                "check",
                "--against-cluster",
                "--config",
                str(ROOT / "lostromos.yaml"),
                "--binding",
                "site",
                "--chart",
                str(ROOT / "charts" / "site"),
                "--kubeconfig",
                str(cluster.kubeconfig),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("0 of ")


def test_check_against_an_unreachable_cluster_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    assert (
        main(
            [
                "check",
                "--against-cluster",
                "--config",
                str(ROOT / "lostromos.yaml"),
                "--binding",
                "site",
                "--chart",
                str(ROOT / "charts" / "site"),
                "--kubeconfig",
                str(kubeconfig),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "cannot reach the cluster" in err and err.count("\n") == 1


INFERRED_VALUES = """\
# -- How many pods run.
replicas: 1
# @schema type:[integer, string]
port: 8080
securityContext:
  privileged: false
podDisruptionBudget:
  maxUnavailable: 1
image:
  repository: nginx
  # tag: "1.27"
webhook:
  enabled: false
socketVolume:
  emptyDir: {}
tolerations: []
podSecurityContext:
  fsGroup: 1000
server:
  enabled: "-"
ports:
  web:
    port: 80
"""

# Reads values.yaml does not show, through a `with` scope, an object rendered whole, and
# values given either as YAML or as template text for `tpl`.
INFERRED_TEMPLATE = """\
{{- with .Values.webhook }}{{ if .enabled }}
# {{ .limits }}
{{- end }}{{ end }}
{{- with .Values.socketVolume }}
# {{ toYaml . }}
{{- end }}
{{- if eq (typeOf .Values.tolerations) "string" }}
# {{ tpl .Values.tolerations . }}
{{- end }}
{{- if eq (typeOf .Values.podSecurityContext) "string" }}
# {{ tpl .Values.podSecurityContext . }}
{{- end }}
{{- range $name, $port := .Values.ports }}
# {{ $name }}: {{ $port.port }}
{{- end }}
"""


def inferred_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "inferred"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: inferred\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(INFERRED_VALUES)
    (chart / "templates" / "notes.yaml").write_text(INFERRED_TEMPLATE)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["schema", "init", str(chart)]) == 0
    return chart


@pytest.mark.parametrize("mode", ["webhook", "full"])
def test_schema_init_then_crd_generate_then_kubectl_apply(
    cluster: Cluster, tmp_path: Path, mode: str
) -> None:
    """The inferred schema's CRD is accepted, and admits what Helm accepts: 1.0 for an
    integer-or-string (x-kubernetes-int-or-string: the API server stores it as 1; `check`
    follows, tests/unit/test_crdsim.py), "25%" for maxUnavailable, runAsUser in a
    securityContext values.yaml shows with privileged only, the commented-out image.tag,
    a key the templates read inside `with .Values.webhook`, any volume source for an
    object the templates render whole, template text for values the templates give to
    `tpl` (a list and a Kubernetes-typed object in values.yaml), true for a switch whose
    default is "-", a new entry of a map the templates range over."""
    chart = inferred_chart(tmp_path)
    group = f"inferred-{mode}.authoring.example.com"
    cluster.kubectl("apply", "-f", str(generate(tmp_path, chart, group, mode)))
    try:
        eventually(
            lambda: established(cluster, f"things.{group}"), timeout=30, message="Established"
        )

        def create(name: str, spec_json: str) -> subprocess.CompletedProcess[str]:
            # The body as written (--raw): kubectl's own encoding would send 1.0 as 1.
            body = (
                f'{{"apiVersion": "{group}/v1", "kind": "Thing", '
                f'"metadata": {{"name": "{name}", "namespace": "default"}}, "spec": {spec_json}}}'
            )
            uri = f"/apis/{group}/v1/namespaces/default/things?dryRun=All&fieldValidation=Strict"
            return cluster.kubectl("create", "--raw", uri, "-f", "-", stdin=body, check=False)

        admitted = eventually(
            lambda: create("whole-float", '{"port": 1.0}').returncode == 0 or None,
            timeout=30,
            message="port 1.0 admitted",
        )
        assert admitted
        for name, spec in [
            ("named-port", '{"port": "http"}'),
            ("percent", '{"podDisruptionBudget": {"maxUnavailable": "25%"}}'),
            ("run-as", '{"securityContext": {"runAsUser": 1000}, "image": {"tag": "1.27"}}'),
            ("scoped-read", '{"webhook": {"enabled": true, "limits": {"cpu": "1"}}}'),
            ("rendered-whole", '{"socketVolume": {"hostPath": {"path": "/run"}}}'),
            ("templated-list", '{"tolerations": "- key: a"}'),
            ("templated-object", '{"podSecurityContext": "fsGroup: 2000"}'),
            ("typed-object", '{"podSecurityContext": {"runAsGroup": 2000}}'),
            ("tri-state", '{"server": {"enabled": true}}'),
            ("new-entry", '{"ports": {"websecure": {"port": 443, "tls": true}}}'),
        ]:
            result = create(name, spec)
            assert result.returncode == 0, (name, result.stderr)
        if mode == "full":  # the API server itself judges: a misspelt key is still refused
            result = create("misspelt", '{"webhook": {"enabeld": true}}')
            assert result.returncode != 0 and "enabeld" in result.stderr
    finally:
        cluster.kubectl("delete", "crd", f"things.{group}", "--wait=false", check=False)
