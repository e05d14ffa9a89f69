"""A TCP relay on loopback in front of the API server that can go silent: while
silent it keeps every connection open, accepts new ones, and passes no byte either
way, as an API server behind a failed-over address or a half-open connection
does. A process pointed at it (`kubeconfig`) sees the API server stop answering;
everyone else still reaches the API server directly."""

from __future__ import annotations

import select
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import yaml


class SilentProxy:
    def __init__(self, kubeconfig: Path) -> None:
        self.source = kubeconfig
        document = yaml.safe_load(kubeconfig.read_text())
        server = urlsplit(document["clusters"][0]["cluster"]["server"])
        self.upstream = (server.hostname or "127.0.0.1", server.port or 443)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.scheme = server.scheme
        self.silent = threading.Event()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def kubeconfig(self, path: Path) -> Path:
        """The source kubeconfig with its server moved to the relay (same TLS name)."""
        document = yaml.safe_load(self.source.read_text())
        for cluster in document["clusters"]:
            cluster["cluster"]["server"] = f"{self.scheme}://127.0.0.1:{self.port}"
        path.write_text(yaml.safe_dump(document))
        return path

    def close(self) -> None:
        self.closed.set()
        for held in [self.listener, *self.sockets]:
            held.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.upstream)
            except OSError:
                return
            self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        while not self.closed.is_set():
            if self.silent.is_set():
                self.closed.wait(0.05)
                continue
            try:
                readable, _, _ = select.select([source], [], [], 0.1)
                if not readable:
                    continue
                data = source.recv(65536)
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                target.sendall(data)
            except OSError:
                return


def logged_at(log: str, message: str, *, last: bool = False) -> str | None:
    """The time (HH:MM:SS.mmm, the controller's log clock) of the first line with
    `message` (the last, with `last`): what a silent API server's tests compare
    between two processes."""
    times = [line.split(" ", 1)[0] for line in log.splitlines() if message in line]
    return (times[-1] if last else times[0]) if times else None
