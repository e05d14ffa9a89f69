"""Logging set-up shared by every lostromos process.

Production logs are one JSON object per line (ts, level, logger, msg and any
``extra`` fields such as object, namespace, kind or release) so a log
pipeline can index them; development logs are one readable line each.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

_HANDLER_MARK = "_lostromos_handler"


def _extra_fields(record: logging.LogRecord) -> dict[str, object]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values that JSON cannot hold are written as str()."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger>: <msg> key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        line = f"{moment} {record.levelname:<7} {record.name}: {record.getMessage()}"
        extras = " ".join(f"{key}={value}" for key, value in _extra_fields(record).items())
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def configure_logging(
    format: LogFormat = "text",
    level: int | str = logging.INFO,
    *,
    stream: IO[str] | None = None,
) -> None:
    """Send every logger's records to one stream handler on the root logger.

    Calling it again replaces the handler it installed before, so a process can
    switch format (or a test can capture the stream) without stacking handlers.
    """
    if format not in LOG_FORMATS:
        raise ValueError(f"log format {format!r} is not one of {', '.join(LOG_FORMATS)}")
    if isinstance(level, str):
        level_number = logging.getLevelName(level.upper())
        if not isinstance(level_number, int):
            raise ValueError(f"log level {level!r} is not one of debug, info, warning, error")
        level = level_number
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # urllib3 warns on each of its own connection retries, with its internals in the
    # message; the callers log the failure once, in a sentence a person can act on.
    logging.getLogger("urllib3").setLevel(max(level, logging.ERROR))
