"""Verdicts remembered by what decides them.

A verdict on a spec depends on nothing but the spec and what judges it (the
compiled values engine, and for a render the chart, release, namespace and
confinement). GitOps tools re-apply every object on each sync, so most reviews
carry a spec already judged: hashing what decides the verdict and looking it up
costs microseconds where judging again costs a coalesce, a schema pass or a
render. Only verdicts are kept, in memory, under a hash of what decided them;
a violation may quote what was given (at most a few dozen characters), as the
message the user reads does.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

Verdict = TypeVar("Verdict")


def spec_digest(spec: Any, *decided_by: str) -> bytes | None:
    """A hash of the spec as JSON with sorted keys, and of what else decides its verdict.

    None when the spec has no single JSON spelling (a non-string key would be
    spelled as the string key it equals; a value JSON cannot hold; nesting too
    deep to encode): such a spec is judged every time.
    """
    if not _string_keys(spec):
        return None
    try:
        text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None
    hasher = hashlib.sha256()
    for part in decided_by:
        hasher.update(part.encode())
        hasher.update(b"\0")
    hasher.update(text.encode())
    return hasher.digest()


def _string_keys(value: Any) -> bool:
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, child in current.items():
                if not isinstance(key, str):
                    return False
                if isinstance(child, dict | list):
                    stack.append(child)
        elif isinstance(current, list):
            stack.extend(child for child in current if isinstance(child, dict | list))
    return True


class RememberedVerdicts(Generic[Verdict]):
    """A bounded, thread-safe map from what decided a verdict to the verdict;
    the least recently used is forgotten first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._verdicts: OrderedDict[bytes, Verdict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Verdict | None:
        with self._lock:
            known = self._verdicts.get(key)
            if known is None:
                self.misses += 1
                return None
            self._verdicts.move_to_end(key)
            self.hits += 1
            return known

    def put(self, key: bytes, verdict: Verdict) -> None:
        with self._lock:
            self._verdicts[key] = verdict
            self._verdicts.move_to_end(key)
            while len(self._verdicts) > self.size:
                self._verdicts.popitem(last=False)

    def __len__(self) -> int:
        return len(self._verdicts)
