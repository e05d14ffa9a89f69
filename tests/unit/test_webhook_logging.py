"""lostromos.logs: one JSON object per line in production, readable text in dev."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from lostromos.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_ts_level_logger_msg_and_extras() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    logging.getLogger("lostromos.webhook").info(
        "denied %s", 'Site "blog"', extra={"object": "blog", "namespace": "default"}
    )
    logging.getLogger("lostromos.webhook").debug("not shown at info")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "info"
    assert entry["logger"] == "lostromos.webhook"
    assert entry["msg"] == 'denied Site "blog"'
    assert (entry["object"], entry["namespace"]) == ("blog", "default")
    assert entry["ts"].endswith("Z") and "T" in entry["ts"]


def test_json_keeps_multiline_messages_and_tracebacks_on_one_line() -> None:
    stream = io.StringIO()
    configure_logging("json", logging.DEBUG, stream=stream)
    try:
        raise KeyError("boom")
    except KeyError:
        logging.getLogger("x").exception("first\nsecond", extra={"when": object()})
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["msg"] == "first\nsecond"
    assert "KeyError: 'boom'" in entry["exc"]
    assert entry["when"].startswith("<object object")


def test_text_is_one_readable_line_with_extras() -> None:
    stream = io.StringIO()
    configure_logging("text", "debug", stream=stream)
    logging.getLogger("lostromos.webhook").warning("slow chart", extra={"kind": "Site"})
    line = stream.getvalue().rstrip("\n")
    assert "\n" not in line
    assert line.endswith("WARNING lostromos.webhook: slow chart kind=Site")


def test_configuring_again_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("text", "info", stream=first)
    configure_logging("json", "info", stream=second)
    logging.getLogger("y").info("once")
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1


@pytest.mark.parametrize(("log_format", "level"), [("yaml", "info"), ("json", "loud")])
def test_unknown_format_or_level_is_refused(log_format: str, level: str) -> None:
    with pytest.raises(ValueError, match=r"log (format|level)"):
        configure_logging(log_format, level)  # type: ignore[arg-type]
