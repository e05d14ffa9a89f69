"""One ValuesEngine per binding, compiled once per chart content, reloaded when the chart changes.

Used from gunicorn threads and controller workers at once, so every lookup is
under a lock; compiling happens outside it so a slow chart load never blocks
requests for other bindings. The chart directory is re-hashed at most every
`recheck_seconds`; an engine is rebuilt only when the content digest changed.

A binding that cannot be loaded (missing chart, bad schema, unreachable
reference) breaks only itself: `engine_for` raises BindingLoadError for it,
remembered for `recheck_seconds` so a broken chart is not reloaded per request,
and every other binding keeps its engine. The webhook denies that kind's
objects with the error, the controller sets a condition on them
(controller.reconcile.outcomes.binding_unloadable) and `check` prints it for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lostromos.chartrepo import Puller, default_cache_dir, engine_puller, fetch_chart
from lostromos.charts import ChartError, chart_digest, load_chart
from lostromos.config import Binding, Bindings
from lostromos.remote_refs import resolver_for
from lostromos.values.engine import ValuesEngine, canonical_overrides


class BindingLoadError(ChartError):
    """One binding's chart or schema cannot be used; the message names the binding."""

    def __init__(self, binding: str, reason: str) -> None:
        super().__init__(f"binding {binding!r}: {reason}")
        self.binding = binding
        self.reason = reason


@dataclass
class _Entry:
    engine: ValuesEngine
    chart_digest: str
    checked_at: float


@dataclass
class _Failure:
    error: BindingLoadError
    failed_at: float


class EngineRegistry:
    def __init__(
        self,
        bindings: Bindings,
        *,
        recheck_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        chart_cache: Path | None = None,
        puller: Puller | None = None,
    ) -> None:
        self.bindings = bindings
        self.chart_cache = chart_cache or default_cache_dir()
        # how repository and OCI charts are pulled: Helm's pull, in an engine
        self.puller = puller or engine_puller()
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._failures: dict[str, _Failure] = {}
        # engines shared by bindings with the same chart content and overrides, so a
        # chart is loaded and its schemas compiled once however many bindings use it
        self._by_source: dict[tuple[str, str], ValuesEngine] = {}

    def engine_for(self, binding: Binding) -> ValuesEngine:
        """The engine for the binding's chart as on disk now (give or take recheck_seconds).

        Raises BindingLoadError when this binding's chart cannot be loaded.
        """
        now = self._clock()
        with self._lock:
            entry = self._entries.get(binding.name)
            if entry is not None and now - entry.checked_at < self.recheck_seconds:
                return entry.engine
            failure = self._failures.get(binding.name)
            if failure is not None and now - failure.failed_at < self.recheck_seconds:
                raise failure.error
        try:
            return self._load(binding, now)
        except (ChartError, ValueError, OSError) as error:
            reason = (
                error.reason
                if isinstance(error, BindingLoadError)
                else (str(error) or type(error).__name__)
            )
            failed = BindingLoadError(binding.name, reason)
            with self._lock:
                self._failures[binding.name] = _Failure(failed, now)
            raise failed from None

    def _load(self, binding: Binding, now: float) -> ValuesEngine:
        path = self.chart_path(binding)
        digest = chart_digest(path)
        with self._lock:
            entry = self._entries.get(binding.name)
            if entry is not None and entry.chart_digest == digest:
                entry.checked_at = now
                self._failures.pop(binding.name, None)
                return entry.engine
        source = (digest, canonical_overrides(binding.overrides))
        with self._lock:
            engine = self._by_source.get(source)
        if engine is None:
            engine = self._build(binding, path)
            with self._lock:
                engine = self._by_source.setdefault(source, engine)
        with self._lock:
            self._entries[binding.name] = _Entry(engine, digest, now)
            self._failures.pop(binding.name, None)
        return engine

    def chart_path(self, binding: Binding) -> Path:
        """The binding's chart directory; a repository or OCI chart is pulled once, then cached."""
        ref = binding.chart
        if ref.path is not None:
            return ref.path
        try:
            return fetch_chart(ref, self.chart_cache, self.puller)
        except ChartError as error:
            raise BindingLoadError(binding.name, str(error)) from None

    def load_all(self) -> list[BindingLoadError]:
        """Load and compile every binding's chart now; the errors of the ones that fail."""
        errors = []
        for binding in self.bindings.bindings:
            try:
                self.engine_for(binding)
            except BindingLoadError as error:
                errors.append(error)
        return errors

    def check_all(self) -> list[BindingLoadError]:
        """Like load_all, for start-up and readiness: raises only when no binding can be
        served at all, so one broken binding never takes the others down."""
        errors = self.load_all()
        if errors and len(errors) == len(self.bindings.bindings):
            more = f" (and {len(errors) - 1} more broken bindings)" if len(errors) > 1 else ""
            raise ChartError(f"{errors[0]}{more}")
        return errors

    def _build(self, binding: Binding, path: Path) -> ValuesEngine:
        chart = load_chart(
            path,
            remote=resolver_for(binding.remote_schema_hosts, self.chart_cache.parent / "schemas"),
        )
        return ValuesEngine(chart, binding.overrides)
