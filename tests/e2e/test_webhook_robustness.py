"""The running webhook (the one the API server calls) under hostile input.

Thousands of random and mutated AdmissionReviews over HTTPS: never a 5xx, every
answer well-formed, and the same gunicorn workers alive afterwards. A slowloris
client trickling its headers does not keep other requests from being answered.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import random
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import Cluster

pytestmark = pytest.mark.e2e
SEED = 20250101
FUZZ_CASES = 3000
CLIENT_THREADS = 6
SLOW_CONNECTIONS = 12  # more than the webhook's workers x threads (2 x 4)
REQUEST_TIMEOUT = 30  # a liveness bound, not a performance assertion


@dataclass(frozen=True)
class Webhook:
    host: str
    port: int
    context: ssl.SSLContext
    master_pid: int

    def connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=REQUEST_TIMEOUT
        )


@dataclass(frozen=True)
class Case:
    """One request to send: what it is, for the failure message."""

    label: str
    method: str
    path: str
    body: bytes
    content_type: str = "application/json"
    uid: str | None = None  # the uid an AdmissionReview answer must echo


@pytest.fixture(scope="module")
def webhook(cluster: Cluster) -> Webhook:
    port = json.loads((cluster.state_dir / "ports.json").read_text())["webhook"]
    processes = json.loads((cluster.state_dir / "processes.json").read_text())
    master_pid = next(entry["pid"] for entry in processes if entry["name"] == "webhook")
    context = ssl.create_default_context(cafile=str(cluster.state_dir / "webhook" / "ca.crt"))
    return Webhook("127.0.0.1", port, context, master_pid)


def worker_pids(master_pid: int) -> set[int]:
    """gunicorn's workers: the children of the webhook process (its arbiter)."""
    children: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == master_pid and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


# --- generating reviews -------------------------------------------------------------


def valid_review(uid: str, operation: str = "CREATE") -> dict[str, Any]:
    gvk = {"group": "hosting.example.com", "version": "v1", "kind": "Site"}
    spec = {
        "domain": "blog.example.com",
        "adminEmail": "admin@example.com",
        "plugins": [{"name": "akismet", "version": "5.3"}],
        "php": {"version": "8.3", "workers": 4},
    }
    obj = {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": "fuzz", "namespace": "default", "generation": 1},
        "spec": spec,
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": gvk,
            "requestKind": gvk,
            "resource": {"group": "hosting.example.com", "version": "v1", "resource": "sites"},
            "name": "fuzz",
            "namespace": "default",
            "operation": operation,
            "userInfo": {"username": "fuzzer"},
            "object": obj,
            "oldObject": copy.deepcopy(obj) if operation == "UPDATE" else None,
            "dryRun": False,
        },
    }


SCALARS: tuple[Callable[[random.Random], Any], ...] = (
    lambda rng: None,
    lambda rng: rng.choice([True, False]),
    lambda rng: rng.randint(-(2**70), 2**70),
    lambda rng: rng.choice([0, -1, 1, 2**53 + 1, 10**30, -(10**400)]),
    lambda rng: rng.uniform(-1e308, 1e308),
    lambda rng: rng.choice([0.5, -0.0, 1e-320, 3.0]),
    lambda rng: "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(20))),
    lambda rng: rng.choice(["", "8.3", "7.4", "CREATE", "status", "a@b.co", "\u0000", "\ud7ff"]),
    lambda rng: "x" * rng.choice([254, 10_000, 200_000]),
    lambda rng: rng.choice(["blog.example.com", "UPPER.example.com", "-bad-.com", "a..b"]),
    lambda rng: rng.choice(["{}", "[]", "null", "__proto__", "$ref", "#/definitions/x"]),
    lambda rng: rng.random(),
)


def random_scalar(rng: random.Random) -> Any:
    return rng.choice(SCALARS)(rng)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    if depth > 4 or rng.random() < 0.5:
        return random_scalar(rng)
    if rng.random() < 0.5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [
        "spec",
        "domain",
        "replicas",
        "php",
        "version",
        "plugins",
        "name",
        "global",
        "storage",
        "image",
        "tls",
        "resources",
        "",
        "metadata",
        "kind",
        "uid",
        "a.b",
        "~1",
        "/",
        "legacyMode",
        "enabled",
        "workers",
        "\u2603",
    ]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def paths_of(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths_of(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths_of(child, (*prefix, index))


def mutate_tree(rng: random.Random, document: dict[str, Any]) -> dict[str, Any]:
    """Replace, delete or add at a few random places of the review."""
    for _ in range(rng.randrange(1, 4)):
        paths = [path for path in paths_of(document) if path]
        if not paths:
            break
        path = rng.choice(paths)
        parent: Any = document
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = rng.randrange(3)
        if action == 0:
            parent[last] = random_value(rng)
        elif action == 1:
            del parent[last]
        elif isinstance(parent, dict):
            parent[rng.choice(["extra", "spec", "status", "uid", "x"])] = random_value(rng)
        else:
            parent.append(random_value(rng))
    return document


def envelope_variant(rng: random.Random, uid: str) -> dict[str, Any]:
    """A review that is well-formed except for one field a client could get wrong."""
    review = valid_review(uid, rng.choice(["CREATE", "UPDATE", "DELETE", "CONNECT"]))
    request = review["request"]
    tweak = rng.randrange(10)
    if tweak == 0:
        review["apiVersion"] = rng.choice(["admission.k8s.io/v1beta1", "v1", "", None, 7])
    elif tweak == 1:
        review["kind"] = rng.choice(["AdmissionRequest", "", None, ["AdmissionReview"]])
    elif tweak == 2:
        request["subResource"] = "status"
        request["object"]["spec"] = random_value(rng)
    elif tweak == 3:
        request["kind"] = rng.choice(
            [
                {"group": "other.example.com", "version": "v1", "kind": "Site"},
                {"group": "hosting.example.com", "version": "v9", "kind": "Blog"},
                {"version": "v1"},
                "Site",
                None,
            ]
        )
    elif tweak == 4:
        request["dryRun"] = rng.choice([True, "yes", 1, None])
    elif tweak == 5:
        request["object"]["spec"] = rng.choice([None, [], "spec", 3, {}, {"global": {"x": 1}}])
    elif tweak == 6:
        request["object"]["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
        request["operation"] = "UPDATE"
        request["oldObject"] = copy.deepcopy(request["object"])
    elif tweak == 7:
        request["object"]["spec"]["php"] = {"legacyMode": rng.choice([True, "no", None])}
    elif tweak == 8:
        request["object"]["spec"].update(
            {"replicas": random_scalar(rng), "storage": random_value(rng)}
        )
    else:
        request["object"]["spec"] = random_value(rng)
    return review


def _truncated(rng: random.Random, text: str) -> bytes:
    return text[: rng.randrange(len(text))].encode()


def _bytes_flipped(rng: random.Random, text: str) -> bytes:
    data = bytearray(text.encode())
    for _ in range(rng.randrange(1, 6)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _bad_number(rng: random.Random, text: str) -> bytes:
    number = rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "1" * 5000, "01", "4.", "0x10"])
    return text.replace('"workers": 4', '"workers": ' + number).encode()


def _deep_array(rng: random.Random, text: str) -> bytes:
    depth = rng.choice([200, 1500, 20_000])
    return text.replace('"workers": 4', '"workers": ' + "[" * depth + "]" * depth).encode()


def _deep_object(rng: random.Random, text: str) -> bytes:
    depth = rng.choice([1500, 50_000])
    return ('{"a":' * depth + "1" + "}" * depth).encode()


RAW_VARIANTS: tuple[Callable[[random.Random, str], bytes], ...] = (
    _truncated,
    _bytes_flipped,
    _bad_number,
    _deep_array,
    _deep_object,
    lambda rng, text: rng.choice([b"", b"null", b"[]", b"{}", b'"AdmissionReview"', b"\xff\xfe{}"]),
    lambda rng, text: text.encode("utf-16"),
    lambda rng, text: text.replace('"default"', '"default", "namespace": "dup"', 1).encode(),
    lambda rng, text: (text + rng.choice(["x", "}", "\n\n{}", "\x00"])).encode(),
)


def raw_variant(rng: random.Random, uid: str) -> bytes:
    """Bytes that are not quite JSON, or JSON no decoder should accept quietly."""
    return rng.choice(RAW_VARIANTS)(rng, json.dumps(valid_review(uid)))


def fuzz_cases(seed: int, count: int) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []
    for index in range(count):
        uid = f"fuzz-{seed}-{index}"
        path = rng.choice(["/validate", "/mutate"])
        kind = rng.randrange(10)
        if kind < 4:
            review = mutate_tree(rng, valid_review(uid, rng.choice(["CREATE", "UPDATE"])))
            cases.append(Case(f"tree-{index}", "POST", path, _dumps(review)))
        elif kind < 7:
            review = envelope_variant(rng, uid)
            cases.append(
                Case(
                    f"envelope-{index}",
                    "POST",
                    path,
                    _dumps(review),
                    uid=uid if _is_well_formed(review) else None,
                )
            )
        elif kind < 9:
            cases.append(Case(f"raw-{index}", "POST", path, raw_variant(rng, uid)))
        else:
            cases.append(_odd_request(rng, index, path, uid))
    # The boundaries, once each.
    big = json.dumps(valid_review("big")).replace('"fuzz"', '"' + "n" * (4 * 1024 * 1024) + '"', 1)
    cases.append(Case("over-the-size-limit", "POST", "/validate", big.encode()))
    cases.append(
        Case("valid-validate", "POST", "/validate", _dumps(valid_review("ok-1")), uid="ok-1")
    )
    cases.append(Case("valid-mutate", "POST", "/mutate", _dumps(valid_review("ok-2")), uid="ok-2"))
    return cases


def _odd_request(rng: random.Random, index: int, path: str, uid: str) -> Case:
    body = _dumps(valid_review(uid))
    choice = rng.randrange(5)
    if choice == 0:
        return Case(
            f"content-type-{index}",
            "POST",
            path,
            body,
            content_type=rng.choice(
                ["text/plain", "", "application/jsonx", "application/json; charset=latin-1"]
            ),
        )
    if choice == 1:
        return Case(f"method-{index}", rng.choice(["GET", "PUT", "DELETE", "PATCH"]), path, body)
    if choice == 2:
        return Case(
            f"path-{index}",
            "POST",
            rng.choice(["/", "/validate/", "/x", "/mutate?x=1", "/metrics", "/%ff"]),
            body,
        )
    if choice == 3:
        return Case(f"empty-{index}", "POST", path, b"")
    return Case(f"b64-{index}", "POST", path, base64.b64encode(body))


def _dumps(document: Any) -> bytes:
    return json.dumps(document).encode()


def _is_well_formed(review: dict[str, Any]) -> bool:
    request = review.get("request")
    return (
        review.get("apiVersion") == "admission.k8s.io/v1"
        and review.get("kind") == "AdmissionReview"
        and isinstance(request, dict)
        and isinstance(request.get("kind"), dict)
        and request["kind"].get("version")
        and request["kind"].get("kind")
        and isinstance(request.get("dryRun", False), bool | None)
    )


# --- sending -------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    case: Case
    status: int
    body: bytes


def send_all(webhook: Webhook, cases: list[Case]) -> list[Answer]:
    """Send every case over a few keep-alive connections; reconnect when the server closes."""
    local = threading.local()

    def send(case: Case) -> Answer:
        for attempt in range(2):
            connection = getattr(local, "connection", None) or webhook.connection()
            local.connection = connection
            try:
                headers = {"Content-Type": case.content_type} if case.content_type else {}
                connection.request(case.method, case.path, body=case.body, headers=headers)
                response = connection.getresponse()
                body = response.read()
                if response.will_close:
                    connection.close()
                    local.connection = None
                return Answer(case, response.status, body)
            except (ConnectionError, http.client.HTTPException, ssl.SSLError):
                # The server may close a connection after a refused oversized body;
                # a fresh connection must then answer.
                connection.close()
                local.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        return list(pool.map(send, cases))


def check_answer(answer: Answer) -> str | None:
    """What is wrong with one answer, or None."""
    case, status = answer.case, answer.status
    if status >= 500:
        return f"{case.label}: HTTP {status}: {answer.body[:300]!r}"
    try:
        document = json.loads(answer.body)
    except ValueError:
        return f"{case.label}: HTTP {status} body is not JSON: {answer.body[:200]!r}"
    problem = None
    if status == 200 and case.path in ("/validate", "/mutate") and case.method == "POST":
        problem = _review_problem(document, case.uid)
    elif status == 400 and not (isinstance(document, dict) and document.get("error")):
        problem = f"400 without a JSON error: {document!r:.300}"
    return f"{case.label}: {problem}" if problem else None


def _review_problem(document: Any, uid: str | None) -> str | None:
    response = document.get("response") if isinstance(document, dict) else None
    if document.get("kind") != "AdmissionReview" or not isinstance(response, dict):
        return f"200 without an AdmissionReview response: {document!r:.300}"
    if not isinstance(response.get("allowed"), bool):
        return f"response.allowed missing: {response!r:.300}"
    if uid is not None and response.get("uid") != uid:
        return f"uid {response.get('uid')!r} does not echo {uid!r}"
    return None


def test_fuzzed_reviews_never_get_a_5xx_or_kill_a_worker(webhook: Webhook) -> None:
    workers_before = worker_pids(webhook.master_pid)
    assert workers_before, "no gunicorn workers found under the webhook process"
    cases = fuzz_cases(SEED, FUZZ_CASES)

    answers = send_all(webhook, cases)

    problems = [problem for answer in answers if (problem := check_answer(answer))]
    assert not problems, f"{len(problems)} bad answers (seed {SEED}):\n" + "\n".join(problems[:20])
    statuses = Counter(answer.status for answer in answers)
    verdicts = Counter(
        json.loads(answer.body)["response"]["allowed"]
        for answer in answers
        if answer.status == 200
        and answer.case.method == "POST"
        and answer.case.path in ("/validate", "/mutate")
    )
    # The generator must reach every kind of answer, or it is not testing much.
    assert statuses[200] > 500 and statuses[400] > 300, statuses
    assert statuses[404] + statuses[405] > 0, statuses
    assert verdicts[True] > 100 and verdicts[False] > 100, verdicts
    by_label = {answer.case.label: answer for answer in answers}
    assert by_label["over-the-size-limit"].status == 400
    assert by_label["valid-validate"].status == 200
    assert worker_pids(webhook.master_pid) == workers_before


# --- slowloris ----------------------------------------------------------------------


class SlowClient(threading.Thread):
    """Opens a TLS connection and sends a request's headers one byte at a time."""

    HEADERS = (
        b"POST /validate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\n"
        b"X-Padding: " + b"s" * 200 + b"\r\n"
    )

    def __init__(self, webhook: Webhook, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.webhook = webhook
        self.stop = stop
        self.bytes_sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            raw = socket.create_connection((self.webhook.host, self.webhook.port), timeout=60)
            with self.webhook.context.wrap_socket(raw, server_hostname=self.webhook.host) as tls:
                for byte in self.HEADERS:
                    if self.stop.is_set():
                        return
                    tls.sendall(bytes([byte]))
                    self.bytes_sent += 1
                    self.stop.wait(0.2)
        except OSError as error:  # the server may give up on us: that is allowed
            self.error = error


def test_slowloris_client_does_not_block_other_requests(webhook: Webhook) -> None:
    stop = threading.Event()
    slow_clients = [SlowClient(webhook, stop) for _ in range(SLOW_CONNECTIONS)]
    for client in slow_clients:
        client.start()
    try:
        wait_for(
            lambda: all(client.bytes_sent > 5 for client in slow_clients),
            "slow clients connected and trickling",
        )
        cases = [
            Case(
                f"during-slowloris-{i}",
                "POST",
                "/validate",
                _dumps(valid_review(f"slow-{i}")),
                uid=f"slow-{i}",
            )
            for i in range(40)
        ]
        answers = send_all(webhook, cases)
        # Every thread was taken by a slow client; the webhook cut them off at its
        # deadline instead of letting them hold the threads for good.
        wait_for(
            lambda: all(c.error is not None for c in slow_clients),
            "slow clients cut off by the webhook",
            timeout=60,
        )
    finally:
        stop.set()
        for client in slow_clients:
            client.join(timeout=10)
    assert [a.status for a in answers] == [200] * len(cases)
    assert all(check_answer(answer) is None for answer in answers)


def wait_for(probe: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s")
        time.sleep(0.05)
