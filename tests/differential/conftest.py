"""Fixtures for differential tests: our verdict against the real helm binary."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from diff_harness import SUMMARY_KEY, DiffStats


@pytest.fixture(scope="session")
def diff_stats(request: pytest.FixtureRequest) -> Iterator[DiffStats]:
    stats = DiffStats()
    request.config.stash[_STATS_KEY] = stats
    yield stats


_STATS_KEY = pytest.StashKey[DiffStats]()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    stats = config.stash.get(_STATS_KEY, None)
    if stats is not None and stats.cases:
        terminalreporter.write_line(stats.summary())
    for text in config.stash.get(SUMMARY_KEY, []):
        for line in text.splitlines():
            terminalreporter.write_line(line)
