"""The chart's templates as validation: render before admitting.

A chart's schema is not its only judge: `required`, `fail` and nil-pointer
guards in its templates refuse values too, and a template may put an object in
another namespace. After the values verdict, admission renders the chart with
the admitted values through the Helm engine (`helm template` semantics: no
cluster, so `lookup` finds nothing) and refuses what cannot render, or what
would be written outside the object's namespace, with Helm's own message.

Every render runs with its binding's budget (renderBudget: time and output
size) in a render process that is killed when the budget is spent
(lostromos.renderpool); a render stopped so is a denial that says which budget.

Verdicts are remembered by what decides them (the chart's digest, release,
namespace, confinement and values, hashed): an object applied again unchanged,
as GitOps tools re-apply every object on each sync, is judged without another
render. As an admission check the verdict is looked up by the spec as the
request carries it (with the values engine's digest, which decides its
defaults and overrides) before anything is defaulted, so a re-applied object
costs one hash. Only the verdict lines are kept, never values.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lostromos.admission import CheckUnavailable, SpecContext
from lostromos.config import Binding
from lostromos.enginewire import ChartSource, ErrorCode, HelmError, Violation, trim
from lostromos.redact import Redactor, redactor_for
from lostromos.renderpool import BudgetedRenderer, RenderOverBudget
from lostromos.values.remembered import RememberedVerdicts, spec_digest

MAX_CAUSE = 300
PLACEHOLDER_RELEASE = "release-name"  # what `helm template` calls an unnamed release
# Verdicts remembered per process: a few hundred bytes each.
VERDICT_CACHE_SIZE = 4096

_LOCATION = re.compile(r"(?P<path>[\w.-]+(?:/[\w.-]+)*/templates/[^\s:()\"<>]+):\d+(?::\d+)?")
_NIL = re.compile(r"at <([^>]+)>: nil pointer evaluating")
_EXECUTION = re.compile(r"execution error at \([^)]*\): (.*)$", re.S)


@dataclass(frozen=True)
class RenderRequest:
    binding: Binding
    chart: ChartSource
    chart_name: str
    release: str
    namespace: str
    values: Mapping[str, Any]
    # Helm's message may quote a value (a chart's `fail`, say): the secret ones go.
    redactor: Redactor = field(default_factory=Redactor)


class RenderCheck:
    """Renders a chart through the engine and turns failures into denial lines.

    As an admission SpecCheck it renders only for bindings with
    `admission.render` on (the default)."""

    def __init__(self, renderer: BudgetedRenderer, *, cache_size: int = VERDICT_CACHE_SIZE):
        self.renderer = renderer
        self.cache_size = cache_size
        self._verdicts: RememberedVerdicts[tuple[str, ...]] = RememberedVerdicts(cache_size)

    @property
    def hits(self) -> int:
        return self._verdicts.hits

    @property
    def misses(self) -> int:
        return self._verdicts.misses

    def __call__(self, context: SpecContext) -> list[str]:
        if not context.binding.admission.render:
            return []
        chart = context.engine.chart
        namespace = context.request.namespace or "default"
        confine = context.binding.confinement(namespace).to_wire()
        spec_key = (
            spec_digest(
                context.raw_spec,
                context.engine.digest,
                context.release,
                namespace,
                json.dumps(confine, sort_keys=True),
                repr(context.binding.render_budget),
            )
            if chart.digest
            else None
        )
        if spec_key is not None:
            known = self._verdicts.get(spec_key)
            if known is not None:
                return list(known)
        lines = self.problems(
            RenderRequest(
                binding=context.binding,
                chart=ChartSource(chart.path, chart.digest),
                chart_name=chart.name,
                release=context.release,
                namespace=namespace,
                values=context.engine.user_values(context.spec),
                redactor=redactor_for(chart, context.binding.sensitive_paths),
            )
        )
        # not reached on an outage (that raised); a spent budget is not the values' verdict
        if spec_key is not None and not over_budget(lines):
            self._verdicts.put(spec_key, tuple(lines))
        return lines

    def problems(self, request: RenderRequest) -> list[str]:
        """Denial lines (empty: it renders and stays in its namespace).

        Raises CheckUnavailable when the engine cannot answer in time.
        """
        if not request.chart.digest:  # a chart known by path only may change under it
            return self._render(request)
        key = _verdict_key(request)
        known = self._verdicts.get(key)
        if known is not None:
            return list(known)
        lines = self._render(request)
        if not over_budget(lines):
            self._verdicts.put(key, tuple(lines))
        return lines

    def _render(self, request: RenderRequest) -> list[str]:
        try:
            self.renderer.verdict(  # the verdict is all a check needs, not the manifest
                request.chart,
                request.release or PLACEHOLDER_RELEASE,
                request.namespace,
                request.values,
                budget=request.binding.render_budget,
                confine=request.binding.confinement(request.namespace),
                schema_checked=True,  # admission runs this after the values verdict
                secrets=request.redactor.sensitive_values(request.values),
            )
        except RenderOverBudget as error:
            return [f"spec: {error.message}"]
        except HelmError as error:
            message = request.redactor.scrub(error.message, request.values)
            if error.retryable or error.code in (ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT):
                raise CheckUnavailable(message) from None
            if error.code is ErrorCode.CONFINEMENT:
                return confinement_lines(error.violations)
            return [
                f"spec: the chart cannot render these values: "
                f"{describe_render_failure(request.chart_name, message)}"
            ]
        return []


def over_budget(lines: Sequence[str]) -> bool:
    """The render ran out of its budget: a busy machine's answer, not the values'."""
    return any(RenderOverBudget.marker in line for line in lines)


def _verdict_key(request: RenderRequest) -> bytes:
    decides = {
        "chart": request.chart.digest,
        "release": request.release,
        "namespace": request.namespace,
        "confine": request.binding.confinement(request.namespace).to_wire(),
        "values": request.values,
    }
    encoded = json.dumps(decides, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).digest()


def describe_render_failure(chart_name: str, message: str) -> str:
    """Helm's template error as a person reads it: the template, then the cause.

    `site/templates/deployment.yaml:27:20 executing ... at <.Values.image.tag>:
    nil pointer evaluating interface {}.tag` becomes
    `templates/deployment.yaml: nil pointer evaluating .Values.image.tag`.
    """
    locations = _LOCATION.findall(message)
    where = _strip_chart(locations[0], chart_name) if locations else ""
    nil = _NIL.findall(message)
    execution = _EXECUTION.search(message)
    if nil:
        cause = f"nil pointer evaluating {nil[-1]}"
    elif execution:
        cause = execution.group(1).strip()
    else:
        cause = message.removeprefix("template: ").strip()
        if locations:
            cause = cause.split(": ", 1)[-1] if ": " in cause else cause
    cause = trim(cause, MAX_CAUSE)
    return f"{where}: {cause}" if where else cause


def confinement_lines(violations: Sequence[Violation]) -> list[str]:
    lines = []
    for violation in violations:
        name = f"{violation.namespace}/{violation.name}" if violation.namespace else violation.name
        lines.append(
            f"spec: the chart would write {violation.kind or 'an object'} {name}: {violation.rule}"
        )
    return lines


def _strip_chart(path: str, chart_name: str) -> str:
    prefix = f"{chart_name}/"
    return path[len(prefix) :] if path.startswith(prefix) else path
