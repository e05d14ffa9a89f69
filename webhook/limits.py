"""How much one review may ask of the webhook, checked before any real work.

A spec of 60,000 list items is valid JSON well under the API server's 3 MiB
body limit, and took the values engine 7-18 s of CPU. Counting its values
costs a few milliseconds, so a spec past `max_values` is refused up front with
a message that says the limit, instead of running into the time budget.
"""

from __future__ import annotations

from typing import Any


def count_values(value: Any, *, stop_after: int) -> int:
    """Scalars, lists and maps in `value`, counting stops once past `stop_after`."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > stop_after:
            return count
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def too_many_values(spec: Any, max_values: int) -> str | None:
    """The violation line for a spec holding more than `max_values` values, or None."""
    if count_values(spec, stop_after=max_values) <= max_values:
        return None
    return (
        f"spec: holds more than {max_values} values (scalars, lists and maps); "
        f"lostromos checks at most {max_values} per object"
    )
