"""Fixtures for differential tests: our verdict against the real helm binary."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from diff_harness import DiffStats


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """The pinned helm: $LOSTROMOS_HELM, else `helm` on PATH. Missing helm is a failure."""
    configured = os.environ.get("LOSTROMOS_HELM")
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.fail(f"LOSTROMOS_HELM={configured} is not an executable file")
        return path
    found = shutil.which("helm")
    if found is None:
        pytest.fail(
            "differential tests need the helm binary: set LOSTROMOS_HELM=/path/to/helm "
            "or put helm on PATH"
        )
    return Path(found)


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
