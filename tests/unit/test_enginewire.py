"""The engine boundary: codes that mirror the Go engine's, answers decoded in
one guarded place, and a missing engine binary as its own error."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lostromos.enginewire import (
    CLIENT_CODES,
    ENGINE_CODES,
    EngineError,
    EngineMissing,
    EngineUnavailable,
    ErrorCode,
    HelmError,
    Pulled,
    Ready,
    Release,
    Rendered,
    Violation,
    decode_answer,
)
from lostromos.helmengine import EngineClient, EngineProcess, find_engine

ROOT = Path(__file__).resolve().parents[2]
GO_PROTOCOL = ROOT / "tools" / "k8s" / "helmengine" / "protocol.go"
ENGINE_DOC = ROOT / "docs" / "engine.md"


def line(document: object) -> bytes:
    return json.dumps(document).encode() + b"\n"


def test_the_engine_codes_are_exactly_the_go_constants() -> None:
    go_codes = set(
        re.findall(r'^\s*code\w+\s+errorCode = "([a-z-]+)"', GO_PROTOCOL.read_text(), re.M)
    )
    assert len(go_codes) >= 10
    assert {code.value for code in ENGINE_CODES} == go_codes
    assert not CLIENT_CODES & go_codes


def test_engine_md_documents_every_code_and_every_answer_field() -> None:
    doc = ENGINE_DOC.read_text()
    for code in ErrorCode:
        assert f"`{code.value}`" in doc, code
    # every JSON field of the requests and answers the Go side declares
    go = "".join(
        path.read_text() for path in GO_PROTOCOL.parent.glob("*.go") if "_test" not in path.name
    )
    # `metadata` is the manifest head the engine parses, not a protocol field
    fields = set(re.findall(r'json:"([A-Za-z]+)[,"]', go)) - {"metadata"}
    assert {"manifest", "recordDigest", "signedRecords", "violations", "maxHistory"} <= fields
    missing = sorted(name for name in fields if f"`{name}`" not in doc)
    assert not missing, f"docs/engine.md does not name: {missing}"


def test_a_success_decodes_into_typed_results() -> None:
    result = decode_answer(
        "upgrade",
        line(
            {
                "id": 4,
                "ok": True,
                "result": {
                    "name": "web",
                    "namespace": "team-a",
                    "revision": 3,
                    "status": "deployed",
                    "labels": {"owner": "x"},
                    "resources": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "web"}],
                },
            }
        ),
        4,
    )
    release = Release.from_wire(result)
    assert (release.name, release.revision, release.status) == ("web", 3, "deployed")
    assert release.labels == {"owner": "x"}
    assert release.resources == (
        {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "", "name": "web"},
    )
    done = decode_answer("uninstall", line({"id": 1, "ok": True, "result": {}}), 1)
    assert done.document == {}


def test_a_failure_is_a_helm_error_with_a_code_and_typed_violations() -> None:
    answer = line(
        {
            "id": 2,
            "ok": False,
            "error": {
                "code": "confinement",
                "message": "Secret kube-system/x: outside",
                "violations": [
                    {
                        "object": {"kind": "Secret", "namespace": "kube-system", "name": "x"},
                        "rule": "it is in namespace kube-system",
                    }
                ],
            },
        }
    )
    with pytest.raises(HelmError) as raised:
        decode_answer("upgrade", answer, 2)
    assert raised.value.code is ErrorCode.CONFINEMENT
    assert raised.value.violations == (
        Violation("Secret", "kube-system", "x", "it is in namespace kube-system"),
    )
    assert not isinstance(raised.value, EngineError)


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (b"Error: panic: runtime error\n", "is not JSON"),
        (b"\xff\xfe\n", "is not JSON"),
        (line([1, 2]), "answer = [1, 2], not an object"),
        (line({"id": 9, "ok": True, "result": {}}), "answered request 9, not 1"),
        (line({"id": 1, "ok": "yes"}), "answer.ok = 'yes', not true or false"),
        (line({"id": 1, "ok": True, "result": "done"}), "result = 'done', not an object"),
        (line({"id": 1, "ok": False}), "error.code = '', not one of"),
        (line({"id": 1, "ok": False, "error": {"code": "exploded"}}), "error.code = 'exploded'"),
        (line({"id": 1, "ok": False, "error": {"code": "budget"}}), "error.code = 'budget'"),
        (
            line({"id": 1, "ok": False, "error": {"code": "render", "message": 7}}),
            "error.message = 7, not a string",
        ),
    ],
)
def test_a_malformed_answer_is_an_engine_error(answer: bytes, says: str) -> None:
    with pytest.raises(EngineError) as raised:
        decode_answer("status", answer, 1)
    assert raised.value.code is ErrorCode.PROTOCOL
    assert not raised.value.retryable
    assert says in raised.value.message
    assert str(raised.value).startswith("helm status: ")


@pytest.mark.parametrize(
    ("decode", "result", "says"),
    [
        (Release.from_wire, {"name": "web", "revision": "3"}, "result.revision = '3'"),
        (Release.from_wire, {"revision": True}, "result.revision = True, not an integer"),
        (Release.from_wire, {"labels": {"a": 1}}, "result.labels"),
        (Release.from_wire, {"resources": [{"kind": 5}]}, "result.resources[0].kind = 5"),
        (Rendered.from_wire, {"manifest": None, "objects": {"kind": "x"}}, "result.objects"),
        (Pulled.from_wire, {"digest": "abc"}, "result.archive = None"),
        (Pulled.from_wire, {"archive": "/a.tgz", "signedBy": "me"}, "result.signedBy"),
    ],
)
def test_a_result_of_the_wrong_shape_is_an_engine_error_naming_the_field(
    decode: object, result: dict[str, object], says: str
) -> None:
    fields = decode_answer("op", line({"id": 1, "ok": True, "result": result}), 1)
    with pytest.raises(EngineError) as raised:
        decode(fields)  # type: ignore[operator]
    assert says in raised.value.message


def test_the_ready_line() -> None:
    ready = Ready.from_wire(
        line(
            {
                "ready": True,
                "protocol": 1,
                "helm": "v4.3.1",
                "cluster": False,
                "signedRecords": True,
            }
        )
    )
    assert ready == Ready(protocol=1, helm="v4.3.1", cluster=False, signed_records=True)
    for bad in (b"listen tcp: permission denied\n", line({"ready": False, "protocol": 1})):
        with pytest.raises(EngineError):
            Ready.from_wire(bad)


class OneAnswerServer:
    """A Unix socket that answers every request line with `answer`, as a broken
    engine would."""

    def __init__(self, path: Path, answer: bytes) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen()
        self.answer = answer
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection, connection.makefile("rb") as reader:
            reader.readline()
            connection.sendall(self.answer)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ew-") as name:  # socket paths are short
        yield Path(name)


@pytest.mark.parametrize(
    ("answer", "raised_as"),
    [
        (b'{"id": 1, "ok": true, "result": {"name": ', EngineUnavailable),  # died mid-answer
        (b"panic: runtime error: invalid memory address\n", EngineError),
        (b'{"id": 1, "ok": true, "result": {"revision": "one"}}\n', EngineError),
    ],
)
def test_the_client_raises_engine_errors_never_decode_errors(
    short_dir: Path, answer: bytes, raised_as: type[HelmError]
) -> None:
    server = OneAnswerServer(short_dir / "engine.sock", answer)
    client = EngineClient(short_dir / "engine.sock", connect_wait=2)
    try:
        with pytest.raises(HelmError) as raised:
            Release.from_wire(client.call("status", 5.0, release="web", namespace="a"))
        assert type(raised.value) is raised_as
    finally:
        client.close()
        server.close()


def test_a_missing_engine_binary_is_its_own_error(tmp_path: Path) -> None:
    missing = tmp_path / "helm-engine"
    with pytest.raises(EngineMissing) as raised:
        find_engine(missing)
    assert not isinstance(raised.value, HelmError)
    assert str(missing) in raised.value.message
    assert "does not exist" in raised.value.message
    assert "lostromos toolchain build" in raised.value.message

    missing.write_text("#!/bin/sh\n")  # there, but not executable
    with pytest.raises(EngineMissing) as raised:
        EngineProcess(missing, cluster=False).start(timeout=5)
    assert "is not an executable file" in raised.value.message
    assert "lostromos toolchain build" in raised.value.message


def test_the_environment_variable_naming_a_missing_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOSTROMOS_HELM_ENGINE", str(tmp_path / "nowhere"))
    with pytest.raises(EngineMissing) as raised:
        find_engine()
    assert str(tmp_path / "nowhere") in raised.value.message
    assert "lostromos toolchain build" in raised.value.message


def test_a_render_process_answering_garbage_is_an_engine_error(short_dir: Path) -> None:
    from lostromos.config import RenderBudget
    from lostromos.enginewire import ChartSource
    from lostromos.renderpool import BudgetedRenderer

    server = OneAnswerServer(short_dir / "render.sock", b'{"id": 1, "ok": true, "result": 7}\n')
    renderer = BudgetedRenderer([short_dir / "render.sock"], connect_wait=2)
    try:
        with pytest.raises(EngineError) as raised:
            renderer.render(
                ChartSource(short_dir), "web", "team-a", {}, budget=RenderBudget(seconds=5.0)
            )
        assert "result = 7, not an object" in raised.value.message
        assert renderer.killed == 0  # a wrong answer is not a render over its budget
    finally:
        server.close()
