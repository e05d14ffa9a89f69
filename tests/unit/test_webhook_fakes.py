"""A small stand-in for the values engine, shared by the webhook and admission tests.

It follows the interface of lostromos.values.engine/lostromos.engines with a few fixed
rules, so the webhook's own logic can be tested without any chart. The last
test checks the fake keeps its promises (it would mislead every other test if not).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lostromos.config import Binding, Bindings, parse_bindings

GROUP, VERSION, KIND = "hosting.example.com", "v1", "Site"
PHP_VERSIONS = ("8.1", "8.2", "8.3", "8.4")


@dataclass(frozen=True, order=True)
class FakeViolation:
    path: tuple[str | int, ...]
    message: str
    given: str = ""

    def describe(self, root: str = "spec") -> str:
        where = root + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in self.path
        )
        if not self.given:
            return f"{where}: {self.message}"
        return f"{where}: {self.given} is not allowed: {self.message}"


@dataclass(frozen=True)
class FakeDefaulted:
    values: dict
    patch: list[dict]


@dataclass(frozen=True)
class FakeVerdict:
    violations: list[FakeViolation]
    deprecations: list[str]


@dataclass
class FakeEngine:
    """Rules: domain (required string), replicas (integer 1-20, default 1),
    php.version (one of PHP_VERSIONS), php.workers (default 8), php.legacyMode deprecated."""

    fail_with: BaseException | None = None
    calls: list[str] = field(default_factory=list)
    chart: Any = None  # no chart schema: nothing is writeOnly

    def _maybe_fail(self, method: str) -> None:
        self.calls.append(method)
        if self.fail_with is not None:
            raise self.fail_with

    def validate(self, spec: Any) -> list[FakeViolation]:
        self._maybe_fail("validate")
        if not isinstance(spec, dict):
            return [FakeViolation((), "must be an object", given=type(spec).__name__)]
        violations = []
        if "domain" not in spec:
            violations.append(FakeViolation(("domain",), "required property is missing"))
        elif not isinstance(spec["domain"], str):
            violations.append(
                FakeViolation(("domain",), "must be a string", given=repr(spec["domain"]))
            )
        replicas = spec.get("replicas", 1)
        if type(replicas) is not int or not 1 <= replicas <= 20:
            violations.append(
                FakeViolation(
                    ("replicas",), "must be an integer from 1 to 20", given=repr(replicas)
                )
            )
        php = spec.get("php", {})
        if isinstance(php, dict) and "version" in php and php["version"] not in PHP_VERSIONS:
            allowed = ", ".join(f'"{v}"' for v in PHP_VERSIONS)
            violations.append(
                FakeViolation(
                    ("php", "version"), f"must be one of {allowed}", given=f'"{php["version"]}"'
                )
            )
        return sorted(set(violations))

    def default(self, spec: Mapping[str, Any]) -> FakeDefaulted:
        self._maybe_fail("default")
        values = copy.deepcopy(dict(spec))
        patch: list[dict] = []
        if "replicas" not in values:
            values["replicas"] = 1
            patch.append({"op": "add", "path": "/replicas", "value": 1})
        php = values.get("php")
        if php is None:
            values["php"] = {"workers": 8}
            patch.append({"op": "add", "path": "/php", "value": {"workers": 8}})
        elif isinstance(php, dict) and "workers" not in php:
            php["workers"] = 8
            patch.append({"op": "add", "path": "/php/workers", "value": 8})
        return FakeDefaulted(values=values, patch=patch)

    def verdict(self, spec: Any) -> FakeVerdict:
        violations = self.validate(spec)
        return FakeVerdict(violations, self.deprecations(spec) if isinstance(spec, dict) else [])

    def deprecations(self, spec: Mapping[str, Any]) -> list[str]:
        self._maybe_fail("deprecations")
        php = spec.get("php")
        if isinstance(php, dict) and "legacyMode" in php:
            return ["spec.php.legacyMode is deprecated: choose php.version instead"]
        return []


def site_bindings() -> Bindings:
    document = {
        "apiVersion": "lostromos.dev/v1alpha1",
        "kind": "Bindings",
        "bindings": [
            {
                "group": GROUP,
                "version": VERSION,
                "kind": KIND,
                "plural": "sites",
                "chart": {"path": "charts/site"},
            }
        ],
    }
    return parse_bindings(document, Path("/nonexistent/lostromos.yaml"))


@dataclass
class FakeRegistry:
    """EngineRegistry's interface over one FakeEngine."""

    engine: FakeEngine = field(default_factory=FakeEngine)
    bindings: Bindings = field(default_factory=site_bindings)
    check_error: Exception | None = None
    engine_error: Exception | None = None

    def engine_for(self, binding: Binding) -> FakeEngine:
        if self.engine_error is not None:
            raise self.engine_error
        return self.engine

    def check_all(self) -> None:
        if self.check_error is not None:
            raise self.check_error


def test_fake_engine_keeps_the_engine_contract() -> None:
    engine = FakeEngine()
    spec = {"domain": "blog.example.com", "php": {"version": "8.3"}}
    defaulted = engine.default(spec)
    assert defaulted.values == {
        "domain": "blog.example.com",
        "replicas": 1,
        "php": {"version": "8.3", "workers": 8},
    }
    assert engine.default(defaulted.values).patch == []  # idempotent
    assert spec == {"domain": "blog.example.com", "php": {"version": "8.3"}}  # not mutated
    assert engine.validate(defaulted.values) == []
    assert [v.describe() for v in engine.validate({"php": {"version": "7.4"}})] == [
        "spec.domain: required property is missing",
        'spec.php.version: "7.4" is not allowed: must be one of "8.1", "8.2", "8.3", "8.4"',
    ]
