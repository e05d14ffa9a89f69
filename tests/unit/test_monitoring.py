"""Monitoring as users expect it: build info, process metrics, Helm action
durations, and chart templates (metrics Service, ServiceMonitor, PrometheusRule,
Grafana dashboard) whose queries name only metrics the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from controller.metrics import ControllerMetrics
from lostromos import toolchain
from tests.unit.test_operator_chart_render import CHART, documents, one
from webhook.metrics import WebhookMetrics

ROOT = CHART.parents[1]
ALL_ON = (
    "metrics.serviceMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
    "metrics.dashboard.enabled=true",
)
# PromQL words that look like metric names but are not.
_PROMQL_WORDS = {
    "by",
    "sum",
    "rate",
    "max",
    "min",
    "le",
    "histogram_quantile",
    "without",
    "on",
    "ignoring",
    "avg",
    "count",
    "increase",
}


def exported_names() -> set[str]:
    """Every series name the controller and the webhook can export."""
    names: set[str] = set()
    registries: list[CollectorRegistry] = [ControllerMetrics().registry, WebhookMetrics()._own]
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count"),
        "gauge": ("",),
        "info": ("_info",),
        "summary": ("_sum", "_count"),
    }
    for registry in registries:
        for family in registry.collect():
            names.add(family.name)
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def metric_names(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges))
    return {w for w in words if "_" in w and w not in _PROMQL_WORDS}


def rule_exprs(helm: Path) -> dict[str, dict[str, Any]]:
    rule = one(documents(helm, *ALL_ON), "PrometheusRule", "lostromos")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def dashboard() -> dict[str, Any]:
    return json.loads((CHART / "files" / "dashboards" / "lostromos.json").read_text())


def test_the_controller_exports_build_info_process_and_helm_metrics() -> None:
    metrics = ControllerMetrics()
    metrics.observe_helm_action("install", "failure", 3.5)
    text = generate_latest(metrics.registry).decode()
    pinned = toolchain.tool_versions()
    assert re.search(r'lostromos_build_info\{[^}]*helm_version="' + re.escape(pinned["helm"]), text)
    assert f'kubernetes_version="{pinned["kube-apiserver"]}"' in text
    assert "process_resident_memory_bytes" in text and "process_cpu_seconds_total" in text
    assert (
        'lostromos_helm_action_duration_seconds_count{action="install",outcome="failure"} 1.0'
    ) in text


def test_by_default_only_the_metrics_service_is_rendered(helm_binary: Path) -> None:
    docs = documents(helm_binary)
    service = one(docs, "Service", "lostromos-controller-metrics")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "health", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "controller"
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}
    assert not [d for d in docs if d["metadata"]["name"] == "lostromos-dashboard"]


def test_the_service_monitor_scrapes_the_controller_and_the_webhook(helm_binary: Path) -> None:
    docs = documents(helm_binary, *ALL_ON)
    monitor = one(docs, "ServiceMonitor", "lostromos")
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [
        d
        for d in docs
        if d["kind"] == "Service" and selector.items() <= d["metadata"]["labels"].items()
    ]
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["metrics"]
    scraped = {s["metadata"]["name"] for s in services if "metrics" in _port_names(s)}
    assert scraped == {"lostromos-controller-metrics", "lostromos-webhook"}


def _port_names(resource: dict[str, Any]) -> set[str]:
    return {port["name"] for port in resource["spec"]["ports"]}


def test_the_webhooks_metrics_port_is_open_to_prometheus_when_admission_is_not(
    helm_binary: Path,
) -> None:
    """webhook.networkPolicy.from keeps the admission port to the API server; the
    metrics port has its own peers (metricsFrom), so Prometheus can still scrape."""
    api_server = [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    prometheus = [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    docs = documents(
        helm_binary,
        *ALL_ON,
        "webhook.networkPolicy.from[0].ipBlock.cidr=10.0.0.1/32",
        "webhook.networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
    )
    policy = one(docs, "NetworkPolicy", "lostromos-webhook")["spec"]["ingress"]
    by_port = {rule["ports"][0]["port"]: rule.get("from") for rule in policy}
    assert by_port["https"] == api_server and by_port["metrics"] == prometheus
    pod = one(docs, "Deployment", "lostromos-webhook")["spec"]["template"]["spec"]
    webhook = next(c for c in pod["containers"] if c["name"] == "webhook")
    assert "--metrics-bind=0.0.0.0:8082" in webhook["args"]
    assert {"name": "metrics", "containerPort": 8082, "protocol": "TCP"} in webhook["ports"]
    open_policy = one(documents(helm_binary), "NetworkPolicy", "lostromos-webhook")
    assert {"ports": [{"port": "metrics", "protocol": "TCP"}]} in open_policy["spec"]["ingress"]


def test_the_alerts(helm_binary: Path) -> None:
    alerts = rule_exprs(helm_binary)
    assert set(alerts) == {
        "LostromosObjectsNotReady",
        "LostromosObjectsStalled",
        "LostromosWebhookErrors",
        "LostromosRolloutHalted",
        "LostromosShardRangesUncovered",
        "LostromosControllerAbsent",
    }
    assert alerts["LostromosObjectsNotReady"]["for"] == "15m"
    # Each sharded replica reports its own share: summed, never max'ed.
    for name, metric in (
        ("LostromosObjectsNotReady", "lostromos_objects_not_ready"),
        ("LostromosObjectsStalled", "lostromos_objects_stalled"),
        ("LostromosShardRangesUncovered", "lostromos_shard_buckets"),
    ):
        assert alerts[name]["expr"].startswith(f"sum by (binding) ({metric}{{"), name
    assert alerts["LostromosShardRangesUncovered"]["expr"].endswith("< 256")
    assert 'verdict="error"' in alerts["LostromosWebhookErrors"]["expr"]
    assert "lostromos_rollout_halted" in alerts["LostromosRolloutHalted"]["expr"]
    assert alerts["LostromosControllerAbsent"]["expr"] == (
        'absent(up{namespace="ops",job="lostromos-controller-metrics"} == 1)'
    )


def test_the_absent_alert_watches_the_job_the_service_monitor_scrapes(
    helm_binary: Path,
) -> None:
    # The Prometheus Operator names a ServiceMonitor's job after the Service.
    docs = documents(helm_binary, *ALL_ON)
    service = one(docs, "Service", "lostromos-controller-metrics")
    expr = rule_exprs(helm_binary)["LostromosControllerAbsent"]["expr"]
    assert f'job="{service["metadata"]["name"]}"' in expr


def test_every_alert_links_its_runbook_in_operators_md(helm_binary: Path) -> None:
    headings = {
        line.removeprefix("### ").strip().lower()
        for line in (ROOT / "docs" / "operators.md").read_text().splitlines()
        if line.startswith("### ")
    }
    for name, rule in rule_exprs(helm_binary).items():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("https://"), name
        page, _, anchor = url.partition("#")
        assert page.endswith("/docs/operators.md") and anchor == name.lower(), name
        assert anchor in headings, f"{name}: no section {anchor} in docs/operators.md"


def test_without_sharding_there_is_no_shard_alert(helm_binary: Path) -> None:
    docs = documents(helm_binary, *ALL_ON, "controller.sharding.enabled=false")
    rule = one(docs, "PrometheusRule", "lostromos")
    alerts = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}
    assert "LostromosShardRangesUncovered" not in alerts and "LostromosObjectsStalled" in alerts


def test_the_dashboard_covers_what_operators_watch(helm_binary: Path) -> None:
    configmap = one(documents(helm_binary, *ALL_ON), "ConfigMap", "lostromos-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["lostromos.json"]) == dashboard()
    titles = " | ".join(panel["title"].lower() for panel in dashboard()["panels"])
    for topic in (
        "reconciles per second",
        "reconcile errors",
        "queue depth",
        "release failures",
        "rollout progress",
        "webhook latency",
        "webhook denials",
    ):
        assert topic in titles, topic


def test_alerts_and_dashboard_name_only_metrics_the_code_exports(helm_binary: Path) -> None:
    exported = exported_names()
    used: dict[str, set[str]] = {}
    for name, rule in rule_exprs(helm_binary).items():
        if rule["expr"].startswith("absent(up{"):
            continue  # Prometheus' own `up` series of a scrape job (tested above)
        used[f"alert {name}"] = metric_names(rule["expr"])
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            used[f"panel {panel['title']}"] = used.get(
                f"panel {panel['title']}", set()
            ) | metric_names(target["expr"])
    assert all(used.values())
    unknown = {where: names - exported for where, names in used.items() if names - exported}
    assert unknown == {}


def test_the_drift_check_itself_can_fail() -> None:
    assert metric_names('sum(rate(lostromos_no_such_metric_total{a="b"}[5m]))') == {
        "lostromos_no_such_metric_total"
    }
    assert "lostromos_no_such_metric_total" not in exported_names()


def test_the_webhook_exports_build_info_too() -> None:
    body, _ = WebhookMetrics().render()
    assert b"lostromos_build_info{" in body
