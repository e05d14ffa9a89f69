"""The real server: `python -m webhook` (gunicorn, TLS) on a loopback port.

Reviews go over real HTTPS with a client that trusts a CA made in the test.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_webhook_app import VALID_SPEC, site_review

from certs.authority import create_ca, issue_serving_cert, write_pair
from lostromos.cli import build_parser
from lostromos.dev.cluster import free_port
from lostromos.renderpool import RENDER_PROCESSES
from webhook.options import options_from
from webhook.server import ServeOptions, ServingTLS, serve

REPO = Path(__file__).resolve().parents[2]
# The webhook renders through the Helm engine: these tests serve the real thing.
pytestmark = pytest.mark.usefixtures("helm_engine_binary")
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass
class RunningServer:
    process: subprocess.Popen
    port: int
    log_file: Path
    pki: Pki

    def client_context(self, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        if maximum is not None:
            context.maximum_version = maximum
        return context

    def connection(self, **context_options: Any) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            "127.0.0.1", self.port, timeout=10, context=self.client_context(**context_options)
        )

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            reply = connection.getresponse()
            return reply.status, dict(reply.getheaders()), reply.read()
        finally:
            connection.close()

    def review(self, path: str, document: Any) -> dict[str, Any]:
        status, headers, body = self.request(
            "POST", path, json.dumps(document), {"Content-Type": "application/json"}
        )
        assert status == 200, body
        assert headers["Content-Type"] == "application/json"
        return json.loads(body)

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = create_ca("lostromos-test-ca")
    serving = issue_serving_cert(ca, ["localhost"], ["127.0.0.1"])
    (directory / "ca.pem").write_bytes(ca.cert_pem)
    write_pair(serving, directory / "tls.crt", directory / "tls.key")
    return Pki(directory / "ca.pem", directory / "tls.crt", directory / "tls.key")


def webhook_command(config: Path, port: int, pki: Pki, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "webhook",
        "--config",
        str(config),
        "--bind",
        f"127.0.0.1:{port}",
        "--tls-cert",
        str(pki.cert_file),
        "--tls-key",
        str(pki.key_file),
        *extra,
    ]


def start_server(
    pki: Pki, log_file: Path, *extra: str, temp_dir: Path | None = None
) -> RunningServer:
    port = free_port()
    env = dict(os.environ)
    if temp_dir is not None:
        env["TMPDIR"] = str(temp_dir)
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            webhook_command(
                REPO / "lostromos.yaml",
                port,
                pki,
                "--workers",
                "2",
                "--threads",
                "2",
                "--log-format",
                "json",
                *extra,
            ),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    server = RunningServer(process, port, log_file, pki)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"webhook exited with {process.returncode}:\n{server.log()}")
        try:
            if server.request("GET", "/healthz")[0] == 200:
                return server
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"webhook did not answer within {START_TIMEOUT} s:\n{server.log()}")


def stop(server: RunningServer) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise


@pytest.fixture(scope="module")
def server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(pki, tmp_path_factory.mktemp("log") / "webhook.log")
    yield running
    stop(running)


# -- reviews over HTTPS -------------------------------------------------------------------


def test_validate_over_https(server: RunningServer) -> None:
    allowed = server.review("/validate", site_review(VALID_SPEC, uid="https-1"))
    assert allowed["response"] == {"uid": "https-1", "allowed": True}
    denied = server.review("/validate", site_review({**VALID_SPEC, "replicas": 0}))
    assert denied["response"]["allowed"] is False
    assert "spec.replicas" in denied["response"]["status"]["message"]


def test_mutate_over_https(server: RunningServer) -> None:
    spec = {**VALID_SPEC, "plugins": [{"name": "akismet", "version": "5.3"}]}
    response = server.review("/mutate", site_review(spec))["response"]
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    operations = json.loads(base64.b64decode(response["patch"]))
    assert {"op": "add", "path": "/spec/plugins/0/enabled", "value": True} in operations
    assert {"op": "add", "path": "/spec/replicas", "value": 1} in operations
    assert all(op["op"] == "add" and op["path"].startswith("/spec/") for op in operations)


def test_readyz_over_https(server: RunningServer) -> None:
    status, _, body = server.request("GET", "/readyz")
    assert (status, json.loads(body)) == (200, {"ready": True})


def test_keep_alive_connection_serves_many_reviews(server: RunningServer) -> None:
    connection = server.connection()
    try:
        for index in range(20):
            document = site_review(VALID_SPEC, uid=str(index))
            connection.request(
                "POST", "/validate", json.dumps(document), {"Content-Type": "application/json"}
            )
            reply = connection.getresponse()
            assert json.loads(reply.read())["response"]["uid"] == str(index)
    finally:
        connection.close()


def open_stalled_connections(server: RunningServer, count: int) -> list[socket.socket]:
    """Idle TCP, a TLS record cut short, and TLS with half a request head, in turns."""
    opened: list[socket.socket] = []
    for index in range(count):
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        if index % 3 == 1:
            raw.sendall(b"\x16\x03\x01\x02")  # the start of a ClientHello, never finished
        elif index % 3 == 2:
            raw = server.client_context().wrap_socket(raw, server_hostname="localhost")
            raw.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Le")
        opened.append(raw)
    return opened


def test_stalled_connections_do_not_hold_the_threads(server: RunningServer) -> None:
    # 60 connections against 2 workers x 2 threads: each one would hold a
    # thread for seconds if threads waited for handshakes and requests.
    stalled = open_stalled_connections(server, 60)
    try:
        for index in range(10):
            started = time.monotonic()
            connection = http.client.HTTPSConnection(
                "127.0.0.1", server.port, timeout=2, context=server.client_context()
            )
            try:
                connection.request(
                    "POST",
                    "/validate",
                    json.dumps(site_review(VALID_SPEC, uid=f"busy-{index}")),
                    {"Content-Type": "application/json"},
                )
                reply = json.loads(connection.getresponse().read())
            finally:
                connection.close()
            assert reply["response"] == {"uid": f"busy-{index}", "allowed": True}
            assert time.monotonic() - started < 2
    finally:
        for held in stalled:
            held.close()


def test_a_stalled_connection_is_closed_after_the_io_timeout(server: RunningServer) -> None:
    stalled = open_stalled_connections(server, 3)
    try:
        started = time.monotonic()
        for held in stalled:
            held.settimeout(15)
            answer = b""
            while chunk := held.recv(1024):
                answer += chunk
            # closed by the server; a request begun is answered 408 first
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 10  # --io-timeout defaults to 5 s
    finally:
        for held in stalled:
            held.close()


def test_metrics_add_up_every_worker(server: RunningServer) -> None:
    def mutate_count() -> float:
        _, _, body = server.request("GET", "/metrics")
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line.startswith("lostromos_webhook_request_duration_seconds_count{")
            and 'endpoint="mutate"' in line
        )

    before = mutate_count()
    for _ in range(12):  # new connections, so both workers take some
        server.review("/mutate", site_review(VALID_SPEC))
    assert mutate_count() - before == 12
    _, _, body = server.request("GET", "/metrics")
    build_info = [
        line for line in body.decode().splitlines() if line.startswith("lostromos_build_info{")
    ]
    assert len(build_info) == 1 and build_info[0].endswith(" 1.0")  # once, not per worker


# -- TLS --------------------------------------------------------------------------------


def test_tls_1_2_is_accepted(server: RunningServer) -> None:
    context = server.client_context(maximum=ssl.TLSVersion.TLSv1_2)
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() == "TLSv1.2"


def _tls_1_1_client() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with pytest.warns(DeprecationWarning):
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def _tls_1_1_server(pki: Pki) -> tuple[socket.socket, ssl.SSLContext]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.warns(DeprecationWarning):
        context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.load_cert_chain(str(pki.cert_file), str(pki.key_file))
    listener = socket.create_server(("127.0.0.1", 0))
    return listener, context


def test_tls_1_1_is_refused(server: RunningServer, pki: Pki) -> None:
    client = _tls_1_1_client()
    # Control: this client really can speak TLS 1.1 to a server that allows it, so
    # the failure below is the webhook's refusal and not a client limitation.
    listener, server_context = _tls_1_1_server(pki)
    negotiated: list[str | None] = []

    def accept_one() -> None:
        connection, _ = listener.accept()
        try:
            with server_context.wrap_socket(connection, server_side=True) as tls:
                negotiated.append(tls.version())
        except ssl.SSLError:
            negotiated.append(None)

    acceptor = threading.Thread(target=accept_one)
    acceptor.start()
    with (
        socket.create_connection(listener.getsockname(), timeout=10) as raw,
        client.wrap_socket(raw) as tls,
    ):
        assert tls.version() == "TLSv1.1"
    acceptor.join(10)
    listener.close()
    assert negotiated == ["TLSv1.1"]

    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        pytest.raises(ssl.SSLError),
    ):
        client.wrap_socket(raw)
    # ...and the webhook still answers afterwards
    assert server.request("GET", "/healthz")[0] == 200


# -- oversized bodies ---------------------------------------------------------------------


def test_4_mib_body_is_400_json_and_the_server_keeps_answering(server: RunningServer) -> None:
    status, headers, body = server.request(
        "POST", "/validate", b" " * (4 * 1024 * 1024), {"Content-Type": "application/json"}
    )
    assert status in (400, 413)
    assert headers["Content-Type"] == "application/json"
    assert "larger than" in json.loads(body)["error"]
    assert server.review("/validate", site_review(VALID_SPEC))["response"]["allowed"] is True


def test_4_mib_chunked_body_is_cut_off(server: RunningServer) -> None:
    connection = server.connection()
    try:
        chunks = (b" " * (256 * 1024) for _ in range(16))
        connection.request(
            "POST",
            "/validate",
            body=chunks,
            encode_chunked=True,
            headers={"Content-Type": "application/json"},
        )
        reply = connection.getresponse()
        assert reply.status in (400, 413)
        assert "larger than" in json.loads(reply.read())["error"]
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close the connection before the whole body is sent
    finally:
        connection.close()
    assert server.review("/validate", site_review(VALID_SPEC))["response"]["allowed"] is True


def test_logs_are_json_lines(server: RunningServer) -> None:
    lines = [line for line in server.log().splitlines() if line.strip()]
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= set(entry)


# -- stopping and refusing to start -------------------------------------------------------


def test_sigterm_stops_gracefully_with_exit_0(pki: Pki, tmp_path: Path) -> None:
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    running = start_server(pki, tmp_path / "webhook.log", temp_dir=temp_dir)
    assert running.review("/validate", site_review(VALID_SPEC))["response"]["allowed"] is True
    # the metrics directory, and the render processes' socket directories
    assert sorted(path.name.split("-")[1] for path in temp_dir.iterdir()) == [
        *["engine"] * RENDER_PROCESSES,
        "webhook",
    ]
    running.process.send_signal(signal.SIGTERM)
    # A liveness bound: gunicorn may take its graceful timeout (20 s) on a loaded machine.
    assert running.process.wait(timeout=40) == 0
    assert list(temp_dir.iterdir()) == []  # all are cleaned up, the render processes stopped


def _refusal(command: list[str]) -> tuple[int, list[str]]:
    result = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return result.returncode, result.stderr.splitlines()


def test_broken_chart_schema_refuses_to_start(pki: Pki, tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "site"
    shutil.copytree(REPO / "charts" / "site", chart)
    schema = json.loads((chart / "values.schema.json").read_text())
    schema["properties"]["replicas"]["type"] = "integr"  # not a JSON Schema type
    (chart / "values.schema.json").write_text(json.dumps(schema))
    bindings = (REPO / "lostromos.yaml").read_text()
    (tmp_path / "lostromos.yaml").write_text(bindings)

    code, stderr = _refusal(webhook_command(tmp_path / "lostromos.yaml", free_port(), pki))
    assert code == 2
    assert len(stderr) == 1, stderr
    assert stderr[0].startswith("lostromos webhook: ")
    assert "values.schema.json" in stderr[0]


def test_missing_bindings_file_refuses_to_start(pki: Pki, tmp_path: Path) -> None:
    code, stderr = _refusal(webhook_command(tmp_path / "missing.yaml", free_port(), pki))
    assert code == 2
    assert stderr == [f"lostromos webhook: {tmp_path / 'missing.yaml'}: bindings file not found"]


def test_unreadable_certificate_refuses_to_start(pki: Pki, tmp_path: Path) -> None:
    broken = Pki(pki.ca_file, tmp_path / "missing.crt", pki.key_file)
    code, stderr = _refusal(webhook_command(REPO / "lostromos.yaml", free_port(), broken))
    assert code == 2
    assert len(stderr) == 1, stderr
    assert stderr[0].startswith("lostromos webhook: cannot load TLS certificate")


# -- in-process pieces ----------------------------------------------------------------------


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_serve_returns_2_with_one_line_for_a_broken_chart(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(REPO / "charts" / "site", tmp_path / "charts" / "site")
    (tmp_path / "charts" / "site" / "values.schema.json").write_text('{"type": "object",')
    (tmp_path / "lostromos.yaml").write_text((REPO / "lostromos.yaml").read_text())
    options = ServeOptions(
        bindings_path=tmp_path / "lostromos.yaml",
        bind="127.0.0.1:1",
        certfile=pki.cert_file,
        keyfile=pki.key_file,
    )
    assert serve(options) == 2
    stderr = capsys.readouterr().err.splitlines()
    assert len(stderr) == 1, stderr
    assert stderr[0].startswith("lostromos webhook: ")
    assert "values.schema.json" in stderr[0]


def test_serving_tls_requires_tls_1_2_and_builds_once_per_process(pki: Pki) -> None:
    tls = ServingTLS(pki.cert_file, pki.key_file)
    hook = tls.gunicorn_hook()
    context = hook(None, lambda: pytest.fail("gunicorn's default context is not used"))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert hook(None, ssl.create_default_context) is context


def test_command_line_options() -> None:
    options = options_from(
        build_parser().parse_args(
            [
                "webhook",
                "--config",
                "b.yaml",
                "--tls-cert",
                "c.pem",
                "--tls-key",
                "k.pem",
                "--workers",
                "3",
                "--log-format",
                "json",
            ]
        )
    )
    assert options == ServeOptions(
        bindings_path=Path("b.yaml"),
        certfile=Path("c.pem"),
        keyfile=Path("k.pem"),
        workers=3,
        log_format="json",
    )
    assert options.bind == "127.0.0.1:8443"
    assert options.access_log is False
