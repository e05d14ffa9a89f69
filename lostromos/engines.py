"""One ValuesEngine per binding, compiled once per chart content, reloaded when the chart changes.

Used from gunicorn threads and controller workers at once, so every lookup is
under a lock; compiling happens outside it so a slow chart load never blocks
requests for other bindings. The chart directory is re-hashed at most every
`recheck_seconds`; an engine is rebuilt only when the content digest changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lostromos.chartrepo import default_cache_dir, fetch_chart
from lostromos.charts import ChartError, chart_digest, load_chart
from lostromos.config import Binding, Bindings
from lostromos.values.engine import ValuesEngine, canonical_overrides


@dataclass
class _Entry:
    engine: ValuesEngine
    chart_digest: str
    checked_at: float


class EngineRegistry:
    def __init__(self, bindings: Bindings, *, recheck_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 chart_cache: Path | None = None) -> None:
        self.bindings = bindings
        self.chart_cache = chart_cache or default_cache_dir()
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        # engines shared by bindings with the same chart content and overrides, so a
        # chart is loaded and its schemas compiled once however many bindings use it
        self._by_source: dict[tuple[str, str], ValuesEngine] = {}

    def engine_for(self, binding: Binding) -> ValuesEngine:
        """The engine for the binding's chart as on disk now (give or take recheck_seconds)."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(binding.name)
            if entry is not None and now - entry.checked_at < self.recheck_seconds:
                return entry.engine
        path = self.chart_path(binding)
        digest = chart_digest(path)
        with self._lock:
            entry = self._entries.get(binding.name)
            if entry is not None and entry.chart_digest == digest:
                entry.checked_at = now
                return entry.engine
        source = (digest, canonical_overrides(binding.overrides))
        with self._lock:
            engine = self._by_source.get(source)
        if engine is None:
            engine = ValuesEngine(load_chart(path), binding.overrides)
            with self._lock:
                engine = self._by_source.setdefault(source, engine)
        with self._lock:
            self._entries[binding.name] = _Entry(engine, digest, now)
        return engine

    def chart_path(self, binding: Binding) -> Path:
        """The binding's chart directory; a repository chart is fetched once into the cache."""
        ref = binding.chart
        if ref.path is not None:
            return ref.path
        assert ref.repository and ref.name and ref.version  # guaranteed by the config parser
        try:
            return fetch_chart(ref.repository, ref.name, ref.version, self.chart_cache,
                               digest=ref.digest,
                               insecure_skip_digest=ref.insecure_skip_digest)
        except ChartError as error:
            raise ChartError(f"binding {binding.name!r}: {error}") from None

    def check_all(self) -> None:
        """Load and compile every binding's chart now; raises ChartError on the first broken one."""
        for binding in self.bindings.bindings:
            try:
                self.engine_for(binding)
            except ChartError as error:
                raise ChartError(f"binding {binding.name!r}: {error}") from None
