"""The operator chart as helm renders it: the webhook configurations agree with
lostromos.dev.webhookconfig, RBAC has no wildcard and names what it can, the values
schema refuses nonsense, and the chart's CRDs and bindings match the repository's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lostromos.cli import build_parser
from lostromos.config import parse_bindings
from lostromos.dev.webhookconfig import DEV_PREFIX, client_config, webhook_configurations
from webhook.options import options_from

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "lostromos"
NAMESPACE = "ops"
ALLOWED_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}


def render(
    helm: Path,
    *settings: str,
    values: dict[str, Any] | None = None,
    tmp_path: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    args = [str(helm), "template", "lostromos", str(CHART), "--namespace", NAMESPACE]
    for setting in settings:
        args += ["--set", setting]
    if values is not None:
        assert tmp_path is not None
        values_file = tmp_path / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        args += ["--values", str(values_file)]
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def documents(helm: Path, *settings: str, **options: Any) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render(helm, *settings, **options).stdout) if d]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def bindings_of(docs: list[dict[str, Any]]):
    configmap = one(docs, "ConfigMap", "lostromos-bindings")
    return parse_bindings(
        yaml.safe_load(configmap["data"]["lostromos.yaml"]), Path("/etc/lostromos/lostromos.yaml")
    )


def test_webhook_configurations_agree_with_webhookconfig(helm_binary: Path) -> None:
    docs = documents(helm_binary)
    bindings = bindings_of(docs).bindings
    rendered = {d["kind"]: d for d in docs if d["kind"].endswith("WebhookConfiguration")}
    selector = rendered["MutatingWebhookConfiguration"]["webhooks"][0]["namespaceSelector"]
    service = {"name": "lostromos-webhook", "namespace": NAMESPACE, "port": 443}
    expected = webhook_configurations(
        bindings, client_config(ca_pem=b"", service=service), namespace_selector=selector
    )
    for wanted in expected:
        chart = rendered[wanted["kind"]]
        assert chart["metadata"]["name"] == wanted["metadata"]["name"]
        for ours, theirs in zip(chart["webhooks"], wanted["webhooks"], strict=True):
            # The chart has no caBundle: the certs sidecar or cert-manager injects it.
            without_bundle = {
                **theirs,
                "clientConfig": {"service": theirs["clientConfig"]["service"]},
            }
            assert ours == without_bundle
    assert selector == {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": ["kube-system", NAMESPACE],
            }
        ]
    }


def test_rules_follow_every_bound_kind(helm_binary: Path, tmp_path: Path) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    extra = {
        **values["bindings"][0],
        "name": "shop",
        "group": "shops.example.com",
        "version": "v1beta1",
        "kind": "Shop",
        "plural": "shops",
        "singular": "shop",
        "shortNames": [],
    }
    docs = documents(
        helm_binary, values={"bindings": [*values["bindings"], extra]}, tmp_path=tmp_path
    )
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        configuration = next(d for d in docs if d["kind"] == kind)
        resources = [
            (r["apiGroups"], r["apiVersions"], r["resources"])
            for r in configuration["webhooks"][0]["rules"]
        ]
        assert resources == [
            (["hosting.example.com"], ["v1"], ["sites"]),
            (["shops.example.com"], ["v1beta1"], ["shops"]),
        ]
    rules = one(docs, "ClusterRole", "lostromos-controller")["rules"]
    for group, plural in (("hosting.example.com", "sites"), ("shops.example.com", "shops")):
        assert {
            "apiGroups": [group],
            "resources": [plural],
            "verbs": ["get", "list", "watch", "patch", "update"],
        } in rules
        assert {
            "apiGroups": [group],
            "resources": [f"{plural}/status"],
            "verbs": ["get", "patch", "update"],
        } in rules
    assert len(bindings_of(docs).bindings) == 2


def all_rules(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{d['kind']} {d['metadata']['name']}", rule)
        for d in docs
        if d["kind"] in ("Role", "ClusterRole")
        for rule in d["rules"]
    ]


@pytest.mark.parametrize("mode", ["self-managed", "cert-manager"])
def test_rbac_has_no_wildcards_and_only_known_verbs(helm_binary: Path, mode: str) -> None:
    docs = documents(helm_binary, f"certs.mode={mode}")
    for where, rule in all_rules(docs):
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], where
        assert "*" not in rule["apiGroups"], where
        assert set(rule["verbs"]) <= ALLOWED_VERBS, where
        assert "escalate" not in rule["verbs"] and "bind" not in rule["verbs"]


def test_webhook_identity_is_limited_to_its_secret_and_configurations(helm_binary: Path) -> None:
    docs = documents(helm_binary)
    secret_rules = one(docs, "Role", "lostromos-webhook-certs")["rules"]
    assert secret_rules == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["lostromos-webhook-tls"],
            "verbs": ["get", "update"],
        }
    ]
    cabundle = one(docs, "ClusterRole", "lostromos-webhook-cabundle")["rules"]
    assert [(r["resources"], r["resourceNames"], r["verbs"]) for r in cabundle] == [
        (["mutatingwebhookconfigurations"], ["lostromos-defaulting"], ["get", "patch"]),
        (["validatingwebhookconfigurations"], ["lostromos-validation"], ["get", "patch"]),
    ]
    pod = one(docs, "Deployment", "lostromos-webhook")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    webhook_mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert "/var/run/secrets/kubernetes.io/serviceaccount" not in webhook_mounts
    sidecar = pod["initContainers"][0]
    assert sidecar["restartPolicy"] == "Always" and "startupProbe" in sidecar
    assert sidecar["args"][:3] == ["certs", "ensure", "--watch"]
    assert f"--secret={NAMESPACE}/lostromos-webhook-tls" in sidecar["args"]
    assert "--mutating=lostromos-defaulting" in sidecar["args"]
    assert one(docs, "Secret", "lostromos-webhook-tls").get("data") is None


def test_cert_manager_mode_leaves_the_webhook_no_rights(helm_binary: Path) -> None:
    docs = documents(helm_binary, "certs.mode=cert-manager")
    assert not [
        d
        for d in docs
        if d["metadata"]["name"].startswith("lostromos-webhook-")
        and d["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
    ]
    certificate = one(docs, "Certificate", "lostromos-webhook")
    assert certificate["spec"]["secretName"] == "lostromos-webhook-tls"
    assert f"lostromos-webhook.{NAMESPACE}.svc" in certificate["spec"]["dnsNames"]
    assert certificate["spec"]["issuerRef"]["name"] == "lostromos-selfsigned"
    one(docs, "Issuer", "lostromos-selfsigned")
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        configuration = next(d for d in docs if d["kind"] == kind)
        assert configuration["metadata"]["annotations"] == {
            "cert-manager.io/inject-ca-from": f"{NAMESPACE}/lostromos-webhook"
        }
    pod = one(docs, "Deployment", "lostromos-webhook")["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    tls = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert tls == {"name": "tls", "secret": {"secretName": "lostromos-webhook-tls"}}

    existing = documents(
        helm_binary,
        "certs.mode=cert-manager",
        "certs.certManager.issuerRef.name=corp-ca",
        "certs.certManager.issuerRef.kind=ClusterIssuer",
    )
    assert not [d for d in existing if d["kind"] == "Issuer"]
    issuer = one(existing, "Certificate", "lostromos-webhook")["spec"]["issuerRef"]
    assert issuer == {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}


def test_controller_rbac_cluster_wide_or_per_release_namespace(helm_binary: Path) -> None:
    wide = documents(helm_binary)
    wide_rules = one(wide, "ClusterRole", "lostromos-controller")["rules"]
    assert {
        "apiGroups": [""],
        "resources": ["secrets"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    } in wide_rules
    assert not [
        d for d in wide if d["kind"] == "Role" and d["metadata"]["name"] == "lostromos-controller"
    ]

    scoped = documents(helm_binary, "controller.rbac.releaseNamespaces={shop,blog}")
    cluster_rules = one(scoped, "ClusterRole", "lostromos-controller")["rules"]
    # Beyond the bound kinds, only health's read-only watches of the releases' workloads.
    beyond = [rule for rule in cluster_rules if rule["apiGroups"] != ["hosting.example.com"]]
    assert beyond == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "statefulsets", "daemonsets"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": [""],
            "resources": ["persistentvolumeclaims"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]},
    ]
    roles = {
        d["metadata"]["namespace"]: d
        for d in scoped
        if d["kind"] == "Role" and d["metadata"]["name"] == "lostromos-controller"
    }
    assert set(roles) == {"shop", "blog"}
    resources = {r for rule in roles["shop"]["rules"] for r in rule["resources"]}
    assert resources == {
        "events",
        "secrets",
        "deployments",
        "services",
        "configmaps",
        "persistentvolumeclaims",
        "ingresses",
    }
    # Sharded replicas: a Lease each, named after the pod, so no resourceNames.
    leases = one(scoped, "Role", "lostromos-controller-leader-election")["rules"]
    assert leases == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "list", "update", "patch", "delete"],
        },
        *RECORD_KEY_RULES,
    ]
    leader = documents(helm_binary, "controller.sharding.enabled=false")
    leases = one(leader, "Role", "lostromos-controller-leader-election")["rules"]
    assert leases == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["lostromos-controller"],
            "verbs": ["get", "update"],
        },
        *RECORD_KEY_RULES,
    ]


def tenant_bindings(*accounts: str | None) -> dict[str, Any]:
    """The chart's Site binding, then one more kind per entry, naming that ServiceAccount."""
    site = yaml.safe_load((CHART / "values.yaml").read_text())["bindings"][0]
    bindings = [{**site, "serviceAccountName": "deployer"}]
    for index, account in enumerate(accounts):
        kind = {
            **site,
            "name": f"shop{index}",
            "group": "shops.example.com",
            "kind": f"Shop{index}",
            "plural": f"shop{index}s",
            "singular": f"shop{index}",
            "shortNames": [],
        }
        if account is not None:
            kind["serviceAccountName"] = account
        bindings.append(kind)
    return {"bindings": bindings}


# The Secret that keeps the key signing Helm's release records (controller/recordkey.py).
RECORD_KEY_RULES = [
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": ["lostromos-release-record-key"],
        "verbs": ["get"],
    },
]


def controller_rules(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (where, rule)
        for where, rule in all_rules(docs)
        if where.endswith("lostromos-controller") or "lostromos-controller-" in where
    ]


def test_required_impersonation_leaves_the_controller_no_release_rights(
    helm_binary: Path, tmp_path: Path
) -> None:
    required = "controller.tenancy.impersonation=required"
    docs = documents(
        helm_binary,
        required,
        values=tenant_bindings("shop-deployer", None, "deployer"),
        tmp_path=tmp_path,
    )
    rules = controller_rules(docs)
    resources = {r for _, rule in rules for r in rule["resources"]}
    assert resources == {
        *(f"shop{i}s" for i in range(3)),
        *(f"shop{i}s/status" for i in range(3)),
        "sites",
        "sites/status",
        "events",
        "serviceaccounts",
        "leases",
        "secrets",
    }  # nothing a chart creates
    # The only Secret rights: the record key, in the controller's own namespace.
    secret_rules = [(where, rule) for where, rule in rules if "secrets" in rule["resources"]]
    assert secret_rules == [
        ("Role lostromos-controller-leader-election", rule) for rule in RECORD_KEY_RULES
    ]
    for where, rule in all_rules(docs):
        assert set(rule["verbs"]) <= ALLOWED_VERBS | {"impersonate"}, where
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"], where
    impersonating = [rule for _, rule in rules if "impersonate" in rule["verbs"]]
    assert impersonating == [
        {
            "apiGroups": [""],
            "resources": ["serviceaccounts"],
            "resourceNames": ["deployer", "shop-deployer"],  # what the bindings name, once
            "verbs": ["impersonate"],
        }
    ]
    args = one(docs, "Deployment", "lostromos-controller")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert "--require-service-account" in args
    assert [b.service_account_name for b in bindings_of(docs).bindings] == [
        "deployer",
        "shop-deployer",
        None,
        "deployer",
    ]

    scoped = documents(
        helm_binary,
        required,
        "controller.rbac.releaseNamespaces={team-a,team-b}",
        values=tenant_bindings(),
        tmp_path=tmp_path,
    )
    cluster_rules = one(scoped, "ClusterRole", "lostromos-controller")["rules"]
    assert {r for rule in cluster_rules for r in rule["resources"]} == {"sites", "sites/status"}
    roles = [
        d for d in scoped if d["kind"] == "Role" and d["metadata"]["name"] == "lostromos-controller"
    ]
    assert sorted(d["metadata"]["namespace"] for d in roles) == ["team-a", "team-b"]
    for role in roles:
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {
                "apiGroups": [""],
                "resources": ["serviceaccounts"],
                "resourceNames": ["deployer"],
                "verbs": ["impersonate"],
            },
        ]


def test_no_service_account_named_means_no_impersonate_rule_at_all(
    helm_binary: Path, tmp_path: Path
) -> None:
    # An empty resourceNames would allow impersonating every ServiceAccount.
    values = tenant_bindings(None)
    del values["bindings"][0]["serviceAccountName"]
    docs = documents(
        helm_binary, "controller.tenancy.impersonation=required", values=values, tmp_path=tmp_path
    )
    assert "serviceaccounts" not in {
        r for _, rule in controller_rules(docs) for r in rule["resources"]
    }


def test_optional_impersonation_is_the_default_and_keeps_release_rights(
    helm_binary: Path, tmp_path: Path
) -> None:
    docs = documents(helm_binary, values=tenant_bindings(), tmp_path=tmp_path)
    args = one(docs, "Deployment", "lostromos-controller")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert "--require-service-account" not in args
    resources = {r for _, rule in controller_rules(docs) for r in rule["resources"]}
    assert {"secrets", "deployments"} <= resources and "serviceaccounts" not in resources
    refused = render(helm_binary, "controller.tenancy.impersonation=always", check=False)
    assert refused.returncode != 0 and "impersonation" in refused.stderr


def test_deployments_probes_sharding_and_leader_election(helm_binary: Path) -> None:
    docs = documents(helm_binary)
    webhook = one(docs, "Deployment", "lostromos-webhook")
    controller = one(docs, "Deployment", "lostromos-controller")
    assert webhook["spec"]["replicas"] == 2
    assert controller["spec"]["replicas"] == 3
    container = webhook["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/readyz",
        "port": "https",
        "scheme": "HTTPS",
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["image"] == "lostromos:0.1.0"
    service = one(docs, "Service", "lostromos-webhook")
    assert service["spec"]["ports"][0]["port"] == 443
    assert service["spec"]["ports"][0]["targetPort"] == "https"
    assert container["ports"][0]["containerPort"] == 8443
    pdb = one(docs, "PodDisruptionBudget", "lostromos-webhook")
    assert pdb["spec"]["minAvailable"] == 1

    ctl = controller["spec"]["template"]["spec"]["containers"][0]
    assert ctl["args"][:6] == [
        "controller",
        "--config=/etc/lostromos/lostromos.yaml",
        "--shards",
        "--identity=$(POD_NAME)",
        "--lease-seconds=15",
        "--lease-namespace=$(POD_NAMESPACE)",
    ]
    pod_spec = controller["spec"]["template"]["spec"]
    spread = pod_spec["topologySpreadConstraints"][0]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "controller"
    controller_pdb = one(docs, "PodDisruptionBudget", "lostromos-controller")
    assert controller_pdb["spec"]["maxUnavailable"] == 1
    leader = one(
        documents(helm_binary, "controller.sharding.enabled=false"),
        "Deployment",
        "lostromos-controller",
    )
    assert leader["spec"]["template"]["spec"]["containers"][0]["args"][2] == "--leader-elect"
    assert ctl["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert ctl["ports"][0]["containerPort"] == 8080
    env = {e["name"]: e for e in ctl["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    for deployment in (webhook, controller):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for each in pod["containers"] + pod.get("initContainers", []):
            assert each["securityContext"]["readOnlyRootFilesystem"] is True
            assert each["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("certs.mode=vault", "certs"),
        ("webhook.timeoutSeconds=60", "timeoutSeconds"),
        ("webhook.reviewSeconds=soon", "reviewSeconds"),
        ("webhook.networkPolicy.enabled=maybe", "enabled"),
        ("controller.rbac.chartResources[0].verbs={*}", "verbs"),
        ("bindings[0].chart.path=relative/site", "bindings"),
        ("surprise=1", "surprise"),
    ],
)
def test_values_schema_refuses_nonsense(helm_binary: Path, setting: str, field: str) -> None:
    result = render(helm_binary, setting, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert field in result.stderr


def test_chart_crds_are_the_generated_ones(helm_binary: Path) -> None:
    generated = sorted((ROOT / "crds").glob("*.yaml"))
    packaged = sorted((CHART / "files" / "crds").glob("*.yaml"))
    assert [p.name for p in packaged] == [p.name for p in generated]
    for ours, theirs in zip(packaged, generated, strict=True):
        assert ours.read_bytes() == theirs.read_bytes(), f"{ours} is stale: copy {theirs}"
    rendered = [d for d in documents(helm_binary) if d["kind"] == "CustomResourceDefinition"]
    source = yaml.safe_load(generated[0].read_text())
    assert rendered[0]["spec"] == json.loads(json.dumps(source["spec"]))
    assert not [
        d
        for d in documents(helm_binary, "crds.install=false")
        if d["kind"] == "CustomResourceDefinition"
    ]


def test_default_bindings_match_the_repository_and_the_image(helm_binary: Path) -> None:
    chart_bindings = bindings_of(documents(helm_binary)).bindings
    repo_bindings = parse_bindings(
        yaml.safe_load((ROOT / "lostromos.yaml").read_text()), ROOT / "lostromos.yaml"
    ).bindings
    assert [b.gvk for b in chart_bindings] == [b.gvk for b in repo_bindings]
    for ours, theirs in zip(chart_bindings, repo_bindings, strict=True):
        assert ours.chart.path is not None and theirs.chart.path is not None
        # The image carries <repo>/charts/X at /opt/lostromos/charts/X (see the Dockerfile).
        assert ours.chart.path == Path("/opt/lostromos") / theirs.chart.path.relative_to(ROOT)
        assert ours.release == theirs.release and ours.plural == theirs.plural
    dockerfile = (ROOT / "Dockerfile").read_text()
    for binding in chart_bindings:
        relative = binding.chart.path.relative_to("/opt/lostromos")
        assert f"COPY {relative}/ {binding.chart.path}/" in dockerfile


def test_the_webhook_container_runs_the_tested_command(helm_binary: Path) -> None:
    webhook = one(documents(helm_binary), "Deployment", "lostromos-webhook")
    args = webhook["spec"]["template"]["spec"]["containers"][0]["args"]
    options = options_from(build_parser().parse_args(args))  # exits on an unknown flag
    assert options.bind == "0.0.0.0:8443"
    assert options.review_seconds == 7.0  # 70% of timeoutSeconds (10)
    assert options.max_spec_values == 10_000
    assert options.max_connections == 4096


def test_review_budget_stays_below_the_api_server_timeout(helm_binary: Path) -> None:
    def review_seconds(*settings: str) -> str:
        webhook = one(documents(helm_binary, *settings), "Deployment", "lostromos-webhook")
        args = webhook["spec"]["template"]["spec"]["containers"][0]["args"]
        return next(a for a in args if a.startswith("--review-seconds=")).split("=", 1)[1]

    assert review_seconds("webhook.timeoutSeconds=3") == "2.1"
    assert review_seconds("webhook.reviewSeconds=5") == "5"
    result = render(helm_binary, "webhook.reviewSeconds=10", check=False)
    assert result.returncode != 0
    assert "webhook.reviewSeconds (10) must be below webhook.timeoutSeconds (10)" in (result.stderr)


def test_network_policy_guards_the_webhook_port(helm_binary: Path, tmp_path: Path) -> None:
    docs = documents(helm_binary)
    policy = one(docs, "NetworkPolicy", "lostromos-webhook")
    webhook = one(docs, "Deployment", "lostromos-webhook")
    assert (
        policy["spec"]["podSelector"]["matchLabels"] == (webhook["spec"]["selector"]["matchLabels"])
    )
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    https, metrics, probes = policy["spec"]["ingress"]
    assert https == {"ports": [{"port": "https", "protocol": "TCP"}]}
    assert metrics == {"ports": [{"port": "metrics", "protocol": "TCP"}]}
    assert probes == {"ports": [{"port": "certs-health", "protocol": "TCP"}]}

    peers = [{"ipBlock": {"cidr": "10.0.0.0/24"}}]
    narrowed = one(
        documents(
            helm_binary,
            values={"webhook": {"networkPolicy": {"enabled": True, "from": peers}}},
            tmp_path=tmp_path,
        ),
        "NetworkPolicy",
        "lostromos-webhook",
    )
    assert narrowed["spec"]["ingress"][0]["from"] == peers

    off = documents(helm_binary, "webhook.networkPolicy.enabled=false")
    assert not [d for d in off if d["kind"] == "NetworkPolicy"]


def test_a_binding_with_every_setting_installs_as_the_controller_reads_it(
    helm_binary: Path, tmp_path: Path
) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    site = values["bindings"][0]
    full = {
        **site,
        "chart": {
            "repository": "oci://registry.example.com/charts",
            "name": "site",
            "version": "1.4.0",
            "digest": "sha256:" + "ab" * 32,
            "usernameFile": "/etc/lostromos/repo/username",
            "passwordFile": "/etc/lostromos/repo/password",
            "keyring": "/etc/lostromos/keys/pubring.gpg",
        },
        "release": {
            "name": "site-{name}",
            "timeout": 120,
            "adopt": True,
            "retries": 3,
            "maxHistory": 4,
        },
        "selector": {"labels": "tier=gold", "annotation": "lostromos.dev/controller=eu"},
        "rollout": {"maxInFlight": 5, "maxFailureRatio": 0.1, "minSamples": 3},
        "driftCheckSeconds": 0,
        "admission": {"render": False},
        "sensitivePaths": ["db.password"],
        "remoteSchemaHosts": ["schemas.example.com"],
    }
    binding = bindings_of(documents(helm_binary, values={"bindings": [full]}, tmp_path=tmp_path))
    parsed = binding.bindings[0]
    assert (parsed.chart.is_oci, parsed.chart.digest) == (True, "ab" * 32)
    assert parsed.chart.access.keyring == Path("/etc/lostromos/keys/pubring.gpg")
    assert (parsed.release.retries, parsed.rollout.max_in_flight) == (3, 5)
    assert parsed.release.max_history == 4
    typo = {**full, "rollout": {"maxInflight": 5}}
    refused = render(helm_binary, values={"bindings": [typo]}, tmp_path=tmp_path, check=False)
    assert refused.returncode != 0
    assert "maxInflight" in refused.stderr


def test_dev_up_registers_webhook_configurations_the_chart_never_meets(
    helm_binary: Path,
) -> None:
    """Installing the chart over `lostromos dev up` must not find objects Helm did not make."""
    chart_names = {
        d["metadata"]["name"] for d in documents(helm_binary) if d["kind"].endswith("Configuration")
    }
    dev_names = {
        c["metadata"]["name"]
        for c in webhook_configurations([], client_config(ca_pem=b""), name_prefix=DEV_PREFIX)
    }
    assert chart_names == {"lostromos-defaulting", "lostromos-validation"}
    assert dev_names.isdisjoint(chart_names)
