"""The shared plumbing: one kube-client setup, one probe server, one backoff formula."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from prometheus_client import CollectorRegistry, Counter, Gauge

from lostromos.backoff import backoff_delay
from lostromos.kube import KubeConfigError, api_client
from lostromos.probes import MetricsEndpoint, ProbeServer, Readiness

# -- backoff ---------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    delays = [backoff_delay(n, base=0.5, cap=5.0, jitter=None) for n in range(1, 7)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff_delay(10_000, base=0.5, cap=5.0, jitter=None) == 5.0


def test_backoff_jitter_spreads_over_the_upper_half() -> None:
    assert backoff_delay(3, base=1.0, cap=60.0, jitter=lambda: 0.0) == 2.0
    assert backoff_delay(3, base=1.0, cap=60.0, jitter=lambda: 0.999) == pytest.approx(3.998)


# -- probes ----------------------------------------------------------------------------


def get(server: ProbeServer, path: str) -> tuple[int, str, bytes]:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@pytest.fixture
def probes() -> Any:
    state = {"readiness": Readiness(False, "informers not synced", {"failures": 2})}
    registry = CollectorRegistry()
    up = Gauge("up", "Whether the target answers.", registry=registry)
    scrapes = Counter("scrapes", "Scrapes seen.", registry=registry)
    server = ProbeServer(
        "127.0.0.1:0",
        lambda: state["readiness"],
        metrics=MetricsEndpoint(registry, refresh=lambda: (up.set(1), scrapes.inc())),
    ).start()
    yield server, state
    server.stop()


def test_probe_bodies_are_the_webhooks_json(probes: Any) -> None:
    server, state = probes
    assert get(server, "/healthz")[::2] == (200, b'{"status": "ok"}')
    status, content_type, body = get(server, "/readyz")
    assert (status, content_type) == (503, "application/json")
    assert json.loads(body) == {"ready": False, "reason": "informers not synced", "failures": 2}
    state["readiness"] = Readiness(True)
    assert (get(server, "/readyz")[0], json.loads(get(server, "/readyz")[2])) == (
        200,
        {"ready": True},
    )
    status, content_type, body = get(server, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=")
    assert "\nup 1.0\n" in body.decode()
    assert get(server, "/nope")[0] == 404


def test_probes_and_metrics_answer_with_query_strings_and_gzip(probes: Any) -> None:
    # kubelet probes and scrape configs may add parameters; Prometheus asks for gzip.
    server, state = probes
    state["readiness"] = Readiness(True)
    assert get(server, "/healthz?verbose")[0] == 200
    assert get(server, "/readyz?verbose")[::2] == (200, b'{"ready": true}')
    status, _, body = get(server, "/metrics?x=1")
    assert status == 200 and "\nup 1.0\n" in body.decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/metrics", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.headers["Content-Encoding"] == "gzip"
        assert "\nup 1.0\n" in gzip.decompress(answer.read()).decode()
    # prometheus-client's own filter: only the series asked for
    filtered = get(server, "/metrics?name[]=up")[2].decode()
    assert "up 1.0" in filtered and "scrapes_total" not in filtered


def test_no_metrics_endpoint_unless_given() -> None:
    server = ProbeServer("127.0.0.1:0", lambda: Readiness(True)).start()
    try:
        assert get(server, "/metrics")[0] == 404
    finally:
        server.stop()


# -- kube client -----------------------------------------------------------------------


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "k", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            }
        )
    )
    return path


def test_a_named_kubeconfig_is_used_and_the_global_default_is_left_alone(tmp_path: Path) -> None:
    before = client.Configuration.get_default_copy().host
    api = api_client(kubeconfig(tmp_path / "config", "https://10.1.2.3:6443"))
    assert api.configuration.host == "https://10.1.2.3:6443"
    assert client.Configuration.get_default_copy().host == before


def test_without_a_kubeconfig_outside_a_pod_the_default_kubeconfig_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.config import kube_config

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    # the client library reads $KUBECONFIG once, when it is imported
    monkeypatch.setattr(
        kube_config,
        "KUBE_CONFIG_DEFAULT_LOCATION",
        str(kubeconfig(tmp_path / "config", "https://10.9.9.9")),
    )
    assert api_client().configuration.host == "https://10.9.9.9"


def test_an_unusable_kubeconfig_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match=r"cannot use .*missing"):
        api_client(tmp_path / "missing")
