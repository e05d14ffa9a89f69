"""The network namespace the suite and the benchmarks run in: only `lo`, and up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lostromos.dev import isolation

PROC_NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets
    lo:  123456     789    0    0    0     0          0         0   123456     789
  eth0: 9876543    4321    0    0    0     0          0         0  1234567    1234
"""

CONNECT_TO_A_LOOPBACK_LISTENER = """
import socket
with socket.create_server(("127.0.0.1", 0)) as listener:
    socket.create_connection(listener.getsockname(), timeout=5).close()
print(open("/proc/net/dev").read())
"""


def can_make_a_namespace() -> bool:
    return any(isolation._works(command)[0] for command in isolation.namespace_commands())


def test_interfaces_are_read_from_proc_net_dev(tmp_path: Path) -> None:
    table = tmp_path / "dev"
    table.write_text(PROC_NET_DEV)
    assert isolation.interfaces(table) == ["lo", "eth0"]


def test_the_suite_runs_where_only_loopback_exists() -> None:
    if not can_make_a_namespace():
        pytest.skip("no network namespace can be made on this machine (the fallback applies)")
    assert isolation.interfaces() == ["lo"], (
        "./dev test runs pytest through lostromos.dev.isolation; "
        f"this process sees {isolation.interfaces()}"
    )


def test_a_fresh_namespace_gets_its_loopback_up() -> None:
    workable = [c for c in isolation.namespace_commands() if isolation._works(c)[0]]
    if not workable:
        pytest.skip("no network namespace can be made on this machine (the fallback applies)")
    # A new namespace of its own (nested, when the suite already runs in one): its
    # lo starts down, and the connection below fails unless the inner step brings it up.
    inside = subprocess.run(
        [
            *workable[0],
            *(sys.executable, "-m", "lostromos.dev.isolation", "--inside", "--"),
            *(sys.executable, "-c", CONNECT_TO_A_LOOPBACK_LISTENER),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert isolation.interfaces_in(inside.stdout) == ["lo"]


def test_no_command_is_a_usage_error() -> None:
    assert isolation.main([]) == 2
