"""Render processes: a render past its budget is killed and its process replaced.

Runs the pinned Helm engine (no cluster): the kill is real, and so is the CPU
it releases.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lostromos.config import RenderBudget
from lostromos.helmengine import ChartSource, HelmError
from lostromos.renderpool import (
    RENDER_GOGC,
    RENDER_NICENESS,
    BudgetedRenderer,
    RenderOverBudget,
    RenderProcesses,
    _exchange,
)

ROOT = Path(__file__).resolve().parents[2]
CHART = ChartSource(ROOT / "tests" / "e2e" / "charts" / "greeting", "")
BOMB = "{{ range until 20000 }}{{ range until 20000 }}{{ end }}{{ end }}"
BUDGET = RenderBudget(seconds=1.0, output_bytes=64 * 1024)


@pytest.fixture
def processes(helm_engine_binary: Path) -> Iterator[RenderProcesses]:
    running = RenderProcesses(helm_engine_binary, count=2)
    running.start()
    yield running
    running.stop()


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_bomb_is_killed_at_its_budget_and_the_process_replaced(
    processes: RenderProcesses,
) -> None:
    renderer = BudgetedRenderer(processes.socket_paths)
    before = set(processes.pids)
    started = time.process_time()
    with pytest.raises(RenderOverBudget, match=r"render budget of 1s \(renderBudget.seconds\)"):
        renderer.render(CHART, "r", "team-a", {"greeting": BOMB}, budget=BUDGET)
    assert renderer.killed == 1
    # the waiting costs this process no CPU; the killed process is replaced
    assert time.process_time() - started < 0.5
    rendered = renderer.render(CHART, "r", "team-a", {"greeting": "hi"}, budget=BUDGET)
    assert 'greeting: "hi"' in rendered.manifest
    deadline = time.monotonic() + 30
    while len(set(processes.pids) - before) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(set(processes.pids) - before) == 1
    ticks = {pid: cpu_ticks(pid) for pid in processes.pids}
    time.sleep(1)
    assert sum(cpu_ticks(pid) - ticks[pid] for pid in ticks) < os.sysconf("SC_CLK_TCK") * 0.3


def test_other_renders_go_on_while_a_bomb_runs(processes: RenderProcesses) -> None:
    renderer = BudgetedRenderer(processes.socket_paths)
    errors: list[HelmError] = []

    def bomb() -> None:
        try:
            renderer.render(CHART, "r", "team-a", {"greeting": BOMB}, budget=BUDGET)
        except HelmError as error:
            errors.append(error)

    thread = threading.Thread(target=bomb)
    thread.start()
    for number in range(5):
        rendered = renderer.render(CHART, f"ok{number}", "team-b", {}, budget=BUDGET)
        assert f"hello from ok{number}" in rendered.manifest
    thread.join()
    assert [type(error) for error in errors] == [RenderOverBudget]


def test_an_output_past_the_budget_is_refused(processes: RenderProcesses) -> None:
    renderer = BudgetedRenderer(processes.socket_paths)
    with pytest.raises(RenderOverBudget, match=r"65536 bytes \(renderBudget.outputBytes\)"):
        renderer.render(CHART, "r", "team-a", {"padding": 100_000}, budget=BUDGET)
    huge = {"padding": 1_000_000}  # past twice the budget: not even read whole
    with pytest.raises(RenderOverBudget, match=r"renderBudget\.outputBytes"):
        renderer.render(CHART, "r", "team-a", huge, budget=BUDGET)
    fine = renderer.render(CHART, "r", "team-a", {"padding": 1000}, budget=BUDGET)
    assert "x" * 1000 in fine.manifest


def test_the_charts_own_failure_is_a_helm_error(processes: RenderProcesses) -> None:
    renderer = BudgetedRenderer(processes.socket_paths)
    with pytest.raises(HelmError) as failure:
        renderer.render(CHART, "r", "team-a", {"greeting": "{{ fail `no` }}"}, budget=BUDGET)
    assert not isinstance(failure.value, RenderOverBudget)
    assert "no" in failure.value.message


def test_exchange_stops_reading_at_the_limit_and_the_deadline() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"x" * 5000)
        assert _exchange(ours, b"ask\n", time.monotonic() + 5, 100) == b"x" * 101
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert _exchange(ours, b"ask\n", time.monotonic() + 0.2, 100) is None


def test_bombs_sharing_a_process_are_all_over_budget(processes: RenderProcesses) -> None:
    # two renders per process: the first one killed takes the second with it
    renderer = BudgetedRenderer(processes.socket_paths)
    errors: list[HelmError] = []

    def bomb() -> None:
        try:
            renderer.render(CHART, "r", "team-a", {"greeting": BOMB}, budget=BUDGET)
        except HelmError as error:
            errors.append(error)

    threads = [threading.Thread(target=bomb) for _ in range(4)]
    for number, thread in enumerate(threads):
        thread.start()
        time.sleep(0.3 if number == 1 else 0.05)  # the later two outlive the first kills
    for thread in threads:
        thread.join()
    assert [type(error) for error in errors] == [RenderOverBudget] * 4


def nice_values(pid: int) -> set[int]:
    """The nice value of every thread of a process (a priority is per thread on Linux)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        found.add(int(fields[16]))  # field 19 of stat: nice
    return found


def test_render_processes_run_below_their_parent(processes: RenderProcesses) -> None:
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    expected = min(ours + RENDER_NICENESS, 19)
    for pid in processes.pids:
        assert nice_values(pid) == {expected}
    # a replaced process starts there too
    killed = processes.pids[0]
    os.kill(killed, 9)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (killed in processes.pids or len(processes.pids) < 2):
        time.sleep(0.1)
    assert killed not in processes.pids
    answer = BudgetedRenderer(processes.socket_paths).render(
        CHART, "hello", "default", {}, budget=BUDGET
    )
    assert answer.manifest
    for pid in processes.pids:
        assert nice_values(pid) == {expected}


def test_a_verdict_judges_as_the_render_does_without_the_manifest(
    processes: RenderProcesses,
) -> None:
    renderer = BudgetedRenderer(processes.socket_paths)
    values = {"greeting": "héllo", "padding": 1000}
    rendered = renderer.render(CHART, "r", "team-a", values, budget=BUDGET)
    verdict = renderer.verdict(CHART, "r", "team-a", values, budget=BUDGET)
    assert verdict.manifest_bytes == len(rendered.manifest.encode())
    with pytest.raises(RenderOverBudget, match=r"65536 bytes \(renderBudget.outputBytes\)"):
        renderer.verdict(CHART, "r", "team-a", {"padding": 100_000}, budget=BUDGET)
    failing = {"greeting": "{{ fail `no greeting` }}"}
    with pytest.raises(HelmError) as by_render:
        renderer.render(CHART, "r", "team-a", failing, budget=BUDGET)
    with pytest.raises(HelmError) as by_verdict:
        renderer.verdict(CHART, "r", "team-a", failing, budget=BUDGET)
    assert (by_verdict.value.code, by_verdict.value.message) == (
        by_render.value.code,
        by_render.value.message,
    )
    assert "no greeting" in by_verdict.value.message
    with pytest.raises(RenderOverBudget, match=r"render budget of 1s"):
        renderer.verdict(CHART, "r", "team-a", {"greeting": BOMB}, budget=BUDGET)


class CountingServer:
    """A render process stand-in that answers every request line on a connection
    with a verdict, and counts the connections it accepted."""

    def __init__(self, path: Path) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen()
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    @staticmethod
    def _answer(connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            while reader.readline():
                connection.sendall(b'{"id": 1, "ok": true, "result": {"manifestBytes": 7}}\n')


def test_renders_one_after_another_share_one_connection(tmp_path: Path) -> None:
    server = CountingServer(tmp_path / "r.sock")
    try:
        renderer = BudgetedRenderer([tmp_path / "r.sock"])
        for _ in range(5):
            assert renderer.verdict(CHART, "r", "team-a", {}, budget=BUDGET).manifest_bytes == 7
        assert server.accepted == 1
    finally:
        server.listener.close()


def test_a_kept_connection_to_a_replaced_process_is_no_failure(
    processes: RenderProcesses,
) -> None:
    renderer = BudgetedRenderer(processes.socket_paths[:1])
    renderer.verdict(CHART, "r", "team-a", {}, budget=BUDGET)  # leaves a connection kept
    killed = processes.pids[0]
    os.kill(killed, 9)  # as another worker's budget kill would
    deadline = time.monotonic() + 30
    while killed in processes.pids and time.monotonic() < deadline:
        time.sleep(0.05)
    rendered = renderer.render(CHART, "after", "team-a", {}, budget=BUDGET)
    assert "hello from after" in rendered.manifest
    assert renderer.killed == 0


def test_a_forked_child_opens_connections_of_its_own(tmp_path: Path) -> None:
    # gunicorn builds the renderer in its master, then forks the workers: two
    # processes writing requests on one socket would read each other's answers
    server = CountingServer(tmp_path / "r.sock")
    try:
        renderer = BudgetedRenderer([tmp_path / "r.sock"])
        renderer.verdict(CHART, "r", "team-a", {}, budget=BUDGET)
        child = os.fork()
        if child == 0:
            ok = renderer.verdict(CHART, "r", "team-a", {}, budget=BUDGET).manifest_bytes == 7
            os._exit(0 if ok else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert server.accepted == 2
        renderer.verdict(CHART, "r", "team-a", {}, budget=BUDGET)  # the parent's is still kept
        assert server.accepted == 2
    finally:
        server.listener.close()


def environment_of(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in entries if b"=" in entry)


def test_render_processes_collect_garbage_less_often_unless_told(
    helm_engine_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.setenv("LOSTROMOS_PROBE", "inherited")
    for told, expected in ((None, RENDER_GOGC), ("50", "50")):
        if told is not None:
            monkeypatch.setenv("GOGC", told)
        running = RenderProcesses(helm_engine_binary, count=1)
        running.start()
        try:
            environment = environment_of(running.pids[0])
            assert environment["GOGC"] == expected
            assert environment["LOSTROMOS_PROBE"] == "inherited"  # the rest is ours
            BudgetedRenderer(running.socket_paths).verdict(CHART, "r", "team-a", {}, budget=BUDGET)
        finally:
            running.stop()
