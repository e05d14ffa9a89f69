"""The controller on the real API server with real helm: convergence, crash
recovery, missed events, drift, rollout, leader election, filters, dry run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from lostromos.dev.dataplane import FAIL_ANNOTATION
from tests.e2e.controllerkit import (
    BoundKind,
    controller_for,
    lease_holder,
    wait_all,
)
from tests.e2e.silentproxy import SilentProxy, logged_at
from tests.support import Cluster, eventually, serve_repository

pytestmark = pytest.mark.e2e


def test_kill9_during_a_burst_then_restart_converges(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path, concurrency=4)
    names = [f"site-{i:02d}" for i in range(24)]
    for name in names:
        kind.create(name, namespace)
    first = controller_for(cluster, kind, tmp_path, controllers).start()
    eventually(
        lambda: len(cluster.releases(namespace)) >= 4,
        timeout=120,
        message="a few releases installed",
    )
    first.kill()  # SIGKILL mid-burst: helm processes in flight die with it
    assert len(cluster.releases(namespace)) < len(names), "burst finished before the kill"

    controller_for(cluster, kind, tmp_path, controllers).start()
    wait_all(lambda n: kind.ready(n, namespace), names, message="all Ready after restart")
    releases = cluster.releases(namespace)
    assert sorted(releases) == names  # none lost, none orphaned, one release per object
    assert {r["status"] for r in releases.values()} == {"deployed"}


def test_changes_made_while_the_controller_was_down_are_converged(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)
    for name in ("keep", "change", "remove"):
        kind.create(name, namespace)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    wait_all(lambda n: kind.ready(n, namespace), ["keep", "change", "remove"])
    assert controller.terminate() == 0

    cluster.kubectl("delete", kind.resource, "remove", "-n", namespace, "--wait=false")
    kind.create("change", namespace, replicas=3)
    kind.create("added", namespace)
    assert kind.get("remove", namespace) is not None  # held by the finalizer meanwhile

    controller_for(cluster, kind, tmp_path, controllers).start()
    eventually(
        lambda: kind.get("remove", namespace) is None, timeout=90, message="deleted object released"
    )
    wait_all(lambda n: kind.ready(n, namespace), ["keep", "added"])
    eventually(lambda: kind.ready("change", namespace, revision=2), timeout=90)
    releases = cluster.releases(namespace)
    assert sorted(releases) == ["added", "change", "keep"]
    assert releases["keep"]["revision"] == "1"  # unchanged objects cost no helm call


def test_an_invalid_spec_gets_status_invalid_and_no_release(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("bad", namespace, php={"version": "7.4"}, replicas="three")

    invalid = eventually(lambda: kind.condition("bad", namespace, "Invalid"), timeout=60)
    assert invalid["status"] == "True"
    assert "spec.php.version" in invalid["message"]
    assert "spec.replicas" in invalid["message"]
    assert kind.condition("bad", namespace, "Ready")["status"] == "False"
    assert "bad" not in cluster.releases(namespace)

    kind.create("bad", namespace, php={"version": "8.3"}, replicas=1)  # fixed by the owner
    eventually(lambda: kind.ready("bad", namespace), timeout=90)
    assert kind.condition("bad", namespace, "Invalid")["status"] == "False"


def test_drifted_release_objects_are_restored(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path, driftCheckSeconds=2)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("drift", namespace, replicas=2)
    eventually(lambda: kind.ready("drift", namespace), timeout=90)

    cluster.kubectl("delete", "service", "drift", "-n", namespace)
    cluster.kubectl(
        "patch",
        "deployment",
        "drift",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"spec": {"replicas": 7}}',
    )

    def restored() -> bool:
        service = cluster.kubectl("get", "service", "drift", "-n", namespace, check=False)
        deployment = cluster.kubectl(
            "get",
            "deployment",
            "drift",
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.replicas}",
            check=False,
        )
        return service.returncode == 0 and deployment.stdout.strip() == "2"

    eventually(restored, timeout=90, message="service recreated and replicas restored")
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=drift"
    ).stdout
    assert "Repaired" in events


def test_a_changed_field_alone_is_drift_and_is_restored(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    # Nothing deleted: only the managedFields say that someone but helm wrote last.
    kind = BoundKind(cluster, tmp_path, driftCheckSeconds=2)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("edited", namespace, replicas=2)
    eventually(lambda: kind.ready("edited", namespace), timeout=90)
    cluster.kubectl(
        "patch",
        "deployment",
        "edited",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"spec": {"replicas": 5}}',
    )

    def replicas() -> str:
        return cluster.kubectl(
            "get", "deployment", "edited", "-n", namespace, "-o", "jsonpath={.spec.replicas}"
        ).stdout.strip()

    eventually(lambda: replicas() == "2", timeout=90, message="replicas restored to 2")
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=edited"
    ).stdout
    assert "Repaired" in events


def test_a_new_chart_rolls_out_and_halts_on_failures(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(
        cluster,
        tmp_path,
        concurrency=4,
        rollout={"maxInFlight": 2, "maxFailureRatio": 0.3, "minSamples": 2},
    )
    names = [f"r{i}" for i in range(8)]
    for name in names:
        kind.create(name, namespace)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    wait_all(lambda n: kind.ready(n, namespace), names)

    # Chart 1.1.0 cannot render: every upgrade to it fails.
    (kind.chart / "templates" / "broken.yaml").write_text('{{ fail "chart 1.1.0 is broken" }}\n')
    bump_chart_version(kind.chart, "1.1.0")
    eventually(
        lambda: controller.metric("lostromos_rollout_halted") == 1,
        timeout=120,
        message="rollout halted",
    )

    def outcomes() -> dict[str, list[str]] | None:
        found: dict[str, list[str]] = {"HelmError": [], "RolloutHalted": []}
        for name in names:
            reason = (kind.condition(name, namespace, "ReleaseFailed") or {}).get("reason")
            if reason not in found:
                return None
            found[reason].append(name)
        return found

    seen = eventually(outcomes, timeout=120, message="every object failed or held back")
    failed, halted = seen["HelmError"], seen["RolloutHalted"]
    # The samples it took to decide, plus at most the upgrades already in flight.
    assert 2 <= len(failed) <= 2 + 2
    assert len(halted) >= len(names) - 4
    releases = cluster.releases(namespace)
    assert all(releases[n]["revision"] == "1" for n in halted), (releases, halted, failed)
    # Upgrades, not objects: a failed release may have been retried before the halt.
    assert controller.metric("lostromos_rollout_releases", state="failed") >= len(failed)

    # Chart 1.2.0 fixes it: the rollout restarts and reaches every release.
    (kind.chart / "templates" / "broken.yaml").unlink()
    bump_chart_version(kind.chart, "1.2.0")
    wait_all(
        lambda n: chart_version(kind, n, namespace) == "1.2.0",
        names,
        timeout=240,
        message="every release on chart 1.2.0",
    )
    assert controller.metric("lostromos_rollout_halted") == 0
    assert controller.metric("lostromos_rollout_releases", state="behind") == 0


def test_a_chart_whose_pods_never_become_ready_halts_its_rollout(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    """The gate counts an upgrade as in flight until its workloads are current, and as
    failed past release.readyTimeout: Helm succeeds on every upgrade to a chart whose
    pods never become ready, yet the rollout halts and most releases keep the old one."""
    kind = BoundKind(
        cluster,
        tmp_path,
        concurrency=4,
        release={"readyTimeout": 10},
        rollout={"maxInFlight": 1, "maxFailureRatio": 0.3, "minSamples": 2},
    )
    names = [f"p{i}" for i in range(6)]
    for name in names:
        kind.create(name, namespace)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    wait_all(lambda n: kind.ready(n, namespace), names, timeout=180)

    # Chart 1.1.0 renders and installs, but its pods are never Ready (a kwok stage).
    values = kind.chart / "values.yaml"
    values.write_text(
        values.read_text().replace(
            "podAnnotations: {}", 'podAnnotations: {"sim.lostromos.dev/fail": "not-ready"}'
        )
    )
    bump_chart_version(kind.chart, "1.1.0")
    eventually(
        lambda: controller.metric("lostromos_rollout_halted") == 1,
        timeout=180,
        message="rollout halted",
    )
    releases = cluster.releases(namespace)
    upgraded = sorted(n for n in names if releases[n]["revision"] != "1")
    # the samples it took to decide, one at a time: the rest never left chart 1.0.0
    assert 2 <= len(upgraded) <= 3, (upgraded, releases)
    for name in upgraded:
        ready = kind.condition(name, namespace, "Ready") or {}
        assert ready.get("reason") == "ProgressDeadlineExceeded", ready
    assert controller.metric("lostromos_rollout_releases", state="failed") >= 2


def bump_chart_version(chart: Path, version: str) -> None:
    text = (chart / "Chart.yaml").read_text()
    lines = [
        f"version: {version}" if line.startswith("version:") else line for line in text.splitlines()
    ]
    (chart / "Chart.yaml").write_text("\n".join(lines) + "\n")


def chart_version(kind: BoundKind, name: str, namespace: str) -> str | None:
    obj = kind.get(name, namespace) or {}
    if not kind.ready(name, namespace):
        return None
    return obj.get("status", {}).get("release", {}).get("chartVersion")


def test_leader_election_fails_over(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)
    lease = f"lease-{kind.plural}"
    args = ("--leader-elect", "--lease-namespace", namespace, "--lease-name", lease)
    first = controller_for(cluster, kind, tmp_path, controllers, *args).start()
    holder = eventually(lambda: lease_holder(cluster, namespace, lease), timeout=30)
    second = controller_for(cluster, kind, tmp_path, controllers, *args).start()
    kind.create("one", namespace)
    eventually(lambda: kind.ready("one", namespace), timeout=90)
    assert lease_holder(cluster, namespace, lease) == holder  # the standby stayed standby
    leader, standby = (first, second) if str(first.process.pid) in holder else (second, first)
    assert "became leader" in leader.log() and "became leader" not in standby.log()

    leader.kill()
    eventually(
        lambda: lease_holder(cluster, namespace, lease) not in (None, holder),
        timeout=60,
        message="lease taken over",
    )
    kind.create("two", namespace)
    eventually(lambda: kind.ready("two", namespace), timeout=90)
    assert "became leader" in standby.log()
    assert sorted(cluster.releases(namespace)) == ["one", "two"]


def test_a_leader_whose_api_server_goes_silent_stops_leading_before_the_standby_starts(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    """The leader reaches the API server through a relay that goes silent (no error,
    no answer, connections held open). Its renewal must end by the renew deadline, so
    it stops leading before its Lease expires and the standby takes over; without a
    deadline the renewal waits for good and two controllers lead at once."""
    kind = BoundKind(cluster, tmp_path)
    lease = f"lease-{kind.plural}"
    args = ("--leader-elect", "--lease-namespace", namespace, "--lease-name", lease)
    relay = SilentProxy(cluster.kubeconfig)
    try:
        through = relay.kubeconfig(tmp_path / "through-relay.kubeconfig")
        leader = controller_for(
            cluster, kind, tmp_path, controllers, *args, "--kubeconfig", str(through)
        ).start()
        holder = eventually(lambda: lease_holder(cluster, namespace, lease), timeout=30)
        assert str(leader.process.pid) in holder
        standby = controller_for(cluster, kind, tmp_path, controllers, *args).start()

        relay.silent.set()
        eventually(
            lambda: lease_holder(cluster, namespace, lease) not in (None, holder),
            timeout=90,
            message="the standby took the lease over",
        )
        eventually(
            lambda: logged_at(standby.log(), "became leader"), timeout=30, message="standby leads"
        )
        lost = logged_at(leader.log(), "lost leadership")
        assert lost is not None, "the silent leader still leads beside the new one"
        assert lost < (logged_at(standby.log(), "became leader") or "")
    finally:
        relay.close()


def test_sigterm_releases_the_lease_and_finishes_in_flight_work(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path, concurrency=3)
    lease = f"lease-{kind.plural}"
    controller = controller_for(
        cluster,
        kind,
        tmp_path,
        controllers,
        "--leader-elect",
        "--lease-namespace",
        namespace,
        "--lease-name",
        lease,
    ).start()
    for index in range(6):
        kind.create(f"s{index}", namespace)
    eventually(lambda: controller.metric("lostromos_helm_calls_total") >= 1, timeout=60)
    assert controller.terminate() == 0
    statuses = {r["status"] for r in cluster.releases(namespace).values()}
    assert statuses <= {"deployed"}, f"in-flight work was abandoned: {statuses}"
    assert not lease_holder(cluster, namespace, lease)  # handed back, not left to expire


def test_annotation_filter_label_selector_and_overrides(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(
        cluster,
        tmp_path,
        selector={"labels": "tier=gold", "annotation": "lostromos.dev/controller=eu"},
        overrides={"replicas": 2},
    )
    controller_for(cluster, kind, tmp_path, controllers).start()
    served = kind.manifest("served", namespace, replicas=9)
    served["metadata"].update(
        labels={"tier": "gold"}, annotations={"lostromos.dev/controller": "eu"}
    )
    other_region = kind.manifest("other-region", namespace)
    other_region["metadata"].update(
        labels={"tier": "gold"}, annotations={"lostromos.dev/controller": "us"}
    )
    other_tier = kind.manifest("other-tier", namespace)
    other_tier["metadata"].update(annotations={"lostromos.dev/controller": "eu"})
    for manifest in (served, other_region, other_tier):
        cluster.apply(manifest)

    eventually(lambda: kind.ready("served", namespace), timeout=90)
    replicas = cluster.kubectl(
        "get", "deployment", "served", "-n", namespace, "-o", "jsonpath={.spec.replicas}"
    ).stdout
    assert replicas == "2"  # the override wins over the spec's 9
    assert sorted(cluster.releases(namespace)) == ["served"]
    for name in ("other-region", "other-tier"):
        obj = kind.get(name, namespace)
        assert not obj["metadata"].get("finalizers") and not obj.get("status")


def test_dry_run_changes_nothing(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)
    controller = controller_for(cluster, kind, tmp_path, controllers, "--dry-run").start()
    kind.create("quiet", namespace)
    eventually(lambda: "dry run: would install release" in controller.log(), timeout=60)
    obj = kind.get("quiet", namespace)
    assert not obj["metadata"].get("finalizers") and not obj.get("status")
    assert cluster.releases(namespace) == {}
    assert controller.metric("lostromos_helm_calls_total") == 0


def test_a_release_left_pending_by_a_crash_is_recovered(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    # A real crash: Helm waits for the pods (release.wait), the chart's copy makes the
    # pods of a two-replica Site never Ready (kwok's failure stage), and the controller
    # is killed while that upgrade waits. The pending-upgrade record it leaves is one
    # the controller signed itself, as after any crash.
    kind = BoundKind(cluster, tmp_path, release={"wait": True, "timeout": 300})
    template = kind.chart / "templates" / "deployment.yaml"
    template.write_text(
        template.read_text().replace(
            "      annotations:\n",
            "      annotations:\n"
            "        {{- if gt (int .Values.replicas) 1 }}\n"
            f"        {FAIL_ANNOTATION}: not-ready\n"
            "        {{- end }}\n",
            1,
        )
    )
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("stuck", namespace)
    eventually(lambda: kind.ready("stuck", namespace), timeout=120)
    kind.create("stuck", namespace, replicas=2)

    def status() -> str:
        return str((cluster.releases(namespace).get("stuck") or {}).get("status"))

    eventually(lambda: status() == "pending-upgrade", timeout=90, message="upgrade waiting")
    controller.kill()  # SIGKILL while Helm waits: the record stays pending-upgrade
    assert status() == "pending-upgrade"

    kind.create("stuck", namespace, replicas=1)
    controller_for(cluster, kind, tmp_path, controllers).start()

    def recovered() -> bool:
        return (
            status() == "deployed"
            and kind.ready("stuck", namespace)
            and (kind.get("stuck", namespace)["status"]["observedGeneration"] == 3)
        )

    eventually(recovered, timeout=180, message="pending release recovered and upgraded")
    replicas = cluster.kubectl(
        "get", "deployment", "stuck", "-n", namespace, "-o", "jsonpath={.spec.replicas}"
    ).stdout
    assert replicas == "1"
    history = cluster.helm("history", "stuck", "-n", namespace, "-o", "json").stdout
    assert [entry["status"] for entry in json.loads(history)][-1] == "deployed"
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=stuck"
    ).stdout
    assert "Recovered" in events


def test_a_chart_from_a_repository_served_on_loopback(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    packaged = tmp_path / "repo"
    packaged.mkdir()
    source = tmp_path / "site"
    shutil.copytree(Path(__file__).resolve().parents[2] / "charts/site", source)
    cluster.helm("package", str(source), "--destination", str(packaged))
    cluster.helm("repo", "index", str(packaged))
    with serve_repository(packaged) as url:
        kind = BoundKind(
            cluster, tmp_path, chart={"repository": url, "name": "site", "version": "1.0.0"}
        )
        controller_for(cluster, kind, tmp_path, controllers).start()
        kind.create("remote", namespace)
        eventually(lambda: kind.ready("remote", namespace), timeout=90)
    release = kind.get("remote", namespace)["status"]["release"]
    assert (release["chart"], release["chartVersion"]) == ("site", "1.0.0")


@pytest.mark.parametrize(
    ("bindings", "expected"),
    [
        (
            "bindings: [{kind: Site, group: a.example.com, version: v1, plural: sites}]",
            "bindings[0] (site).chart: missing required field",
        ),
        (
            "bindings: [{kind: Site, group: a.example.com, version: v1, plural: sites, "
            "chart: /nonexistent/chart}]",
            "/nonexistent/chart",
        ),
        ("bindings: [\n  - {kind: Site", "not valid YAML"),
    ],
)
def test_bad_start_up_input_is_one_clear_line(
    cluster: Cluster, tmp_path: Path, bindings: str, expected: str
) -> None:
    import subprocess
    import sys

    path = tmp_path / "bindings.yaml"
    path.write_text(bindings)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lostromos",
            "controller",
            "--config",
            str(path),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--helm-engine",
            str(cluster.tools["helm-engine"]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_helm_missing_is_one_clear_line(cluster: Cluster, tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lostromos",
            "controller",
            "--config",
            str(Path(__file__).resolve().parents[2] / "lostromos.yaml"),
            "--kubeconfig",
            str(cluster.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PATH": "/nonexistent"},
    )
    assert result.returncode == 2
    assert "the Helm engine helm-engine is not built" in result.stderr
    assert "lostromos toolchain build" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_api_server_going_away_is_survived(tmp_path: Path, controllers) -> None:
    """A control plane of its own, so its API server can be stopped and started again."""
    from lostromos import toolchain
    from lostromos.dev.cluster import DevCluster, DevOptions

    root = Path(__file__).resolve().parents[2]
    tools = toolchain.ensure()
    options = DevOptions(
        state_dir=tmp_path / "outage",
        bindings_path=root / "lostromos.yaml",
        crds_dir=root / "crds",
        examples_dir=None,
        tools=tools,
    )
    dev = DevCluster(options, say=lambda line: None)
    dev.start_control_plane()
    try:
        own = Cluster.of(dev, tools)
        kind = BoundKind(own, tmp_path)
        # etcd and kube-apiserver only, no pods: Ready cannot wait for workloads
        controller = controller_for(own, kind, tmp_path, controllers, "--no-ready-wait").start()
        kind.create("before", "default")
        eventually(lambda: kind.ready("before", "default"), timeout=90)

        dev.restart_apiserver(down_seconds=8)  # the controller sees refused connections

        assert controller.process.poll() is None, "the controller died with the API server"
        kind.create("after", "default")
        eventually(
            lambda: kind.ready("after", "default"),
            timeout=120,
            message="converged after the API server came back",
        )
        assert sorted(own.releases("default")) == ["after", "before"]
        assert "Traceback" not in controller.log()
    finally:
        dev.stop()


def test_metrics_report_reconciles_helm_calls_queue_and_releases(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("m1", namespace)
    kind.create("m2", namespace, php={"version": "5.6"})
    eventually(lambda: kind.ready("m1", namespace), timeout=90)
    eventually(lambda: kind.condition("m2", namespace, "Invalid"), timeout=60)
    binding = kind.plural[:-1]
    assert controller.metric("lostromos_reconciles_total", binding=binding) >= 2
    assert controller.metric("lostromos_helm_calls_total", action="upgrade") == 1
    assert controller.metric("lostromos_objects", binding=binding) == 2
    assert controller.metric("lostromos_releases", binding=binding, state="Deployed") == 1
    assert controller.metric("lostromos_releases", binding=binding, state="Invalid") == 1
    assert "lostromos_queue_depth" in controller.metrics()
    assert "lostromos_reconcile_duration_seconds_bucket" in controller.metrics()


def test_a_successor_records_a_release_its_predecessor_deployed_without_a_new_revision(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    """A replica killed after helm deployed and before it wrote status: the next one
    finds the signed record labelled with this very desired state and records it."""
    kind = BoundKind(cluster, tmp_path)
    first = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("handed", namespace)
    eventually(lambda: kind.ready("handed", namespace), timeout=90)
    first.kill()
    # What the dead replica never wrote: the status of the release it deployed.
    cluster.kubectl(
        "patch", kind.resource, "handed", "-n", namespace, "--subresource=status",
        "--type=json", "-p", '[{"op": "remove", "path": "/status/release"}]',
    )  # fmt: skip
    controller_for(cluster, kind, tmp_path, controllers).start()

    def recorded() -> bool:
        obj = kind.get("handed", namespace) or {}
        return ((obj.get("status") or {}).get("release") or {}).get("revision") == 1

    eventually(recorded, timeout=90, message="the deployed revision recorded in status")
    history = cluster.helm("history", "handed", "-n", namespace, "-o", "json").stdout
    assert [entry["revision"] for entry in json.loads(history)] == [1]
