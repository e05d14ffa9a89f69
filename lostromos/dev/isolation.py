"""A network of its own: test and benchmark clusters where only loopback exists.

The local API server dials whatever a webhook's Service resolves to, and a
cluster hands out addresses (ClusterIPs, later node and pod IPs) that belong to
nobody on this machine. A packet to one of them leaves the machine for whatever
owns that address on the user's network. Test suites and benchmarks therefore
run in a network namespace whose only interface is `lo`: an address nothing may
dial cannot be reached from there even by mistake.

    python -m lostromos.dev.isolation -- COMMAND...    run COMMAND in a fresh one

As root the namespace is `unshare --net`; without root, a user namespace that
maps the caller to root (`unshare --user --map-root-user --net`) where the
kernel allows it. Where neither can be made the command runs on the host
network, said once on stderr: the API server still resolves Services to
endpoints and never to ClusterIPs (`--enable-aggregator-routing`), which is the
safeguard `./dev up` relies on as well (docs/design.md, "Addresses nothing
dials").

Whatever needs the package registries (the toolchain build, `uv sync`) runs
before, outside.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

# Set for the command that was started, so that a script which isolates itself
# (bench/) does not try again when no namespace could be made.
CHECKED_ENV = "LOSTROMOS_NETWORK_CHECKED"

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sh14x"


def interfaces(proc_net_dev: Path = Path("/proc/net/dev")) -> list[str]:
    """The network interfaces of this process's network namespace.

    /proc/net follows the reading process's namespace; /sys/class/net follows the
    mount namespace's and would still list the host's interfaces after `unshare --net`.
    """
    return interfaces_in(proc_net_dev.read_text())


def interfaces_in(proc_net_dev: str) -> list[str]:
    lines = proc_net_dev.splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines if ":" in line]


def only_loopback() -> bool:
    return interfaces() == ["lo"]


def namespace_commands() -> list[list[str]]:
    """The ways to make a network namespace here, the most direct first."""
    if shutil.which("unshare") is None:
        return []
    commands = [["unshare", "--user", "--map-root-user", "--net"]]
    if os.geteuid() == 0:
        commands.insert(0, ["unshare", "--net"])
    return commands


def _works(command: Sequence[str]) -> tuple[bool, str]:
    try:
        probe = subprocess.run(
            [*command, "true"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error)
    return probe.returncode == 0, probe.stderr.strip()


def exec_isolated(argv: Sequence[str], say: Callable[[str], None]) -> NoReturn:
    """Replace this process with `argv` run in a network namespace with only `lo`."""
    if only_loopback():
        _become(argv)
    reasons: list[str] = []
    for command in namespace_commands():
        works, reason = _works(command)
        if works:
            inner = [sys.executable, "-m", "lostromos.dev.isolation", "--inside", "--", *argv]
            _become([*command, *inner])
        reasons.append(f"`{' '.join(command)}`: {reason or 'refused'}")
    if not reasons:
        reasons.append("`unshare` (util-linux) is not installed")
    say(
        "lostromos: no network namespace can be made here ("
        + "; ".join(reasons)
        + "), so clusters run on the host network; the API server still resolves "
        "Services to endpoints, never to ClusterIPs"
    )
    _become(argv)


def _become(argv: Sequence[str]) -> NoReturn:
    environ = {**os.environ, CHECKED_ENV: "1"}
    os.execvpe(argv[0], list(argv), environ)  # noqa: S606 (no shell: argv as given)


def ensure_isolated(say: Callable[[str], None]) -> None:
    """Re-run this Python script in a network namespace of its own, once."""
    if os.environ.get(CHECKED_ENV) or only_loopback():
        return
    exec_isolated([sys.executable, *sys.argv], say)


def bring_loopback_up() -> None:
    """`ip link set lo up`, without needing iproute2: a new namespace's lo is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        request = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(control, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(control, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    inside = bool(args) and args[0] == "--inside"
    if inside:
        args.pop(0)
    if args[:1] == ["--"]:
        args.pop(0)
    if not args:
        print("usage: python -m lostromos.dev.isolation -- COMMAND...", file=sys.stderr)
        return 2
    if inside:
        bring_loopback_up()
        _become(args)
    exec_isolated(args, lambda line: print(line, file=sys.stderr, flush=True))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
