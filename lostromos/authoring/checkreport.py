"""What `lostromos check` prints: one verdict per object as soon as it is known,
a progress line on stderr for long inputs, and for `-o json|yaml` one report of
the same shape offline and `--against-cluster`:

    {"against": null | {"binding", "chart", "version"},
     "checked": N, "allowed": N, "denied": N,
     "skipped": [{"source", "apiVersion", "kind", "name"}],   # --skip-unbound
     "objects": [{"source", "binding", "kind", "namespace", "name", "allowed",
                  "message", "reasons", "patch", "warnings"}]}   # not with --summary
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

# Inputs at least this long get a progress line: a pipeline of a few objects
# answers at once, 2,000 objects take long enough to look stuck without one.
PROGRESS_FROM = 100


@dataclass
class Progress:
    """`checked 700/2000 objects` on stderr: one line rewritten on a terminal, at
    most ten lines (every tenth) in a CI log."""

    total: int
    stream: IO[str] = field(default_factory=lambda: sys.stderr)
    done: int = 0

    @property
    def shown(self) -> bool:
        return self.total >= PROGRESS_FROM

    def tick(self) -> None:
        self.done += 1
        if not self.shown:
            return
        line = f"lostromos check: checked {self.done}/{self.total} objects"
        if self.stream.isatty():
            self.stream.write(f"\r{line}" + ("\n" if self.done == self.total else ""))
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            self.stream.write(line + "\n")
        self.stream.flush()


@dataclass
class CheckReport:
    """Counts and (unless summary-only) every object's verdict, as plain data."""

    summary_only: bool = False
    against: dict[str, str] | None = None
    allowed: int = 0
    denied: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)

    def add(self, verdict: dict[str, Any]) -> None:
        if verdict["allowed"]:
            self.allowed += 1
        else:
            self.denied += 1
        if not self.summary_only:
            self.objects.append(verdict)

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "against": self.against,
            "checked": self.allowed + self.denied,
            "allowed": self.allowed,
            "denied": self.denied,
            "skipped": self.skipped,
        }
        if not self.summary_only:
            data["objects"] = self.objects
        return data

    @property
    def exit_code(self) -> int:
        return 1 if self.denied else 0


def note_skipped(skipped: Iterable[dict[str, Any]], say: Callable[[str], None]) -> None:
    """One stderr line for the objects of unbound kinds: what was not judged."""
    counts: dict[str, int] = {}
    for item in skipped:
        key = f"{item['apiVersion']} {item['kind']}"
        counts[key] = counts.get(key, 0) + 1
    if counts:
        kinds = ", ".join(f"{kind} ({count})" for kind, count in sorted(counts.items()))
        total = sum(counts.values())
        say(f"skipped {total} object(s) of kinds no binding serves: {kinds}")
