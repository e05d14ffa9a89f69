"""How long to wait before retry number n: doubling from a base, capped, with jitter.

One formula for every retry loop (work queue keys, the cert keeper, watches),
so they all back off alike. Jitter spreads the delay over [d/2, d]: many
clients failing together (the API server went away) must not come back in
lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable

_MAX_DOUBLINGS = 60  # past any cap; keeps 2**n a small integer


def backoff_delay(
    attempt: int, *, base: float, cap: float, jitter: Callable[[], float] | None = random.random
) -> float:
    """The delay before retry `attempt` (1 for the first): base * 2**(attempt-1), at most
    `cap`; `jitter` (uniform in [0, 1)) scales it into [d/2, d], None keeps it exact."""
    delay = min(cap, base * 2 ** min(max(attempt - 1, 0), _MAX_DOUBLINGS))
    if jitter is None:
        return delay
    return delay * (0.5 + 0.5 * jitter())
