"""The dev cluster's supervisor starts, records and stops real child processes."""

from __future__ import annotations

import sys
from pathlib import Path

from lostromos.dev.processes import Supervisor

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('up', flush=True); time.sleep(60)",
]


def test_children_are_recorded_and_stopped(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path)
    first = supervisor.start("first", SLEEPER)
    second = supervisor.start("second", STUBBORN)
    assert first.alive() and second.alive()

    # Another supervisor (a later `dev down`) sees the same running children.
    later = Supervisor(tmp_path)
    assert {c.name for c in later.running()} == {"first", "second"}

    later.stop_all(timeout=1)
    assert not first.alive()
    assert not second.alive()  # ignored SIGTERM, so it got SIGKILL
    assert not (tmp_path / "processes.json").exists()
    assert Supervisor(tmp_path).running() == []


def test_a_dead_child_is_noticed_with_its_log(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path)
    child = supervisor.start(
        "crasher", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    )
    for _ in range(200):
        if supervisor.first_dead() is not None:
            break
        import time

        time.sleep(0.02)
    assert supervisor.first_dead() == child
    assert "boom" in child.log_tail()
    supervisor.stop_all()
