"""What the benchmarks read of the machine: a process's CPU time and the load average.

Imports nothing of lostromos: bench/render_cpu.py and bench/validate_cpu.py load
another checkout's lostromos after importing this."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int | None) -> float:
    """User and system CPU seconds of a running process (0.0 for none, or one gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, as the tables print them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())
