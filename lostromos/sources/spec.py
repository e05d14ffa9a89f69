"""A binding's `source`: which objects of an existing kind it selects, and how
their values are found.

    source:
      apiVersion: v1
      kind: Namespace
      selector:
        matchLabels: {hosting.example.com/tenant-baseline: "on"}
        matchExpressions: [{key: hosting.example.com/tenant, operator: Exists}]
      annotation: hosting.example.com/owner     # optional: must be present (key or key=value)
      namespace: platform                       # cluster-scoped kinds other than Namespace
      failurePolicy: Fail                       # the webhook rule's, for selected objects
      values:
        team: {from: 'metadata.labels["hosting.example.com/tenant"]'}
        tier: {from: 'metadata.labels["hosting.example.com/tier"]', default: bronze}
        quota.pods: {from: 'metadata.annotations["hosting.example.com/pods"]', as: integer}

The selector has Kubernetes' LabelSelector shape, because it is used as the
webhook rule's `objectSelector` and as the watch's label selector verbatim.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lostromos.sources.paths import SourcePath, ValuesPath, parse_source_path, parse_values_path

Conversion = Literal["string", "integer", "number", "boolean"]
FailurePolicy = Literal["Fail", "Ignore"]
CORE_GROUP = ""


@dataclass(frozen=True)
class Requirement:
    """One matchExpressions entry."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values

    def as_query(self) -> str:
        values = ",".join(self.values)
        return {
            "Exists": self.key,
            "DoesNotExist": f"!{self.key}",
            "In": f"{self.key} in ({values})",
            "NotIn": f"{self.key} notin ({values})",
        }[self.operator]


@dataclass(frozen=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.match_labels) and all(
            requirement.matches(labels) for requirement in self.match_expressions
        )

    def as_query(self) -> str:
        """The `labelSelector` query parameter for a list or watch."""
        parts = [f"{key}={value}" for key, value in self.match_labels]
        return ",".join(parts + [r.as_query() for r in self.match_expressions])

    def as_object(self) -> dict[str, Any]:
        """The LabelSelector object (a webhook rule's objectSelector)."""
        selector: dict[str, Any] = {}
        if self.match_labels:
            selector["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            selector["matchExpressions"] = [
                {
                    "key": r.key,
                    "operator": r.operator,
                    **({"values": list(r.values)} if r.values else {}),
                }
                for r in self.match_expressions
            ]
        return selector


@dataclass(frozen=True)
class ValueMapping:
    """One chart value taken from the source object."""

    target: ValuesPath
    source: SourcePath
    default: Any = None
    has_default: bool = False
    conversion: Conversion | None = None


@dataclass(frozen=True)
class SourceBinding:
    group: str
    version: str
    kind: str
    resource: str  # the plural the API serves the kind under (namespaces, services)
    selector: LabelSelector
    annotation_key: str | None = None
    annotation_value: str | None = None
    namespace: str | None = None
    failure_policy: FailurePolicy = "Fail"
    values: tuple[ValueMapping, ...] = field(default_factory=tuple)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def describe(self) -> str:
        return f"{self.api_version} {self.kind}"

    def selects(self, obj: Mapping[str, Any]) -> bool:
        """Is `obj` selected: its labels match and the annotation is present?"""
        metadata = obj.get("metadata") or {}
        if not self.selector.matches(metadata.get("labels") or {}):
            return False
        if self.annotation_key is None:
            return True
        annotations = metadata.get("annotations") or {}
        if self.annotation_key not in annotations:
            return False
        return self.annotation_value is None or annotations[self.annotation_key] == (
            self.annotation_value
        )


def guess_resource(kind: str) -> str:
    """The API server's own guess of a kind's plural (meta.UnsafeGuessKindToResource)."""
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def parse_source(value: dict[str, Any], where: str, problems: list[str]) -> SourceBinding | None:
    """A schema-valid `source` as a SourceBinding; what the schema cannot say is checked here."""
    found = len(problems)
    group, _, version = value["apiVersion"].rpartition("/")
    raw_selector = value["selector"]
    requirements = []
    for index, entry in enumerate(raw_selector.get("matchExpressions", ())):
        values = tuple(entry.get("values", ()))
        needs_values = entry["operator"] in ("In", "NotIn")
        if needs_values != bool(values):
            problems.append(
                f"{where}.source.selector.matchExpressions[{index}]: operator "
                f"{entry['operator']} {'needs' if needs_values else 'takes no'} values"
            )
        requirements.append(Requirement(entry["key"], entry["operator"], values))
    selector = LabelSelector(
        tuple(sorted((raw_selector.get("matchLabels") or {}).items())), tuple(requirements)
    )
    if not selector.match_labels and not selector.match_expressions:
        problems.append(
            f"{where}.source.selector: must select by at least one label; an empty selector "
            "would send every object of the kind to the webhook"
        )
    mappings = _parse_values(value.get("values") or {}, f"{where}.source.values", problems)
    annotation = value.get("annotation")
    key = annotation_value = None
    if annotation is not None:
        key, equals, annotation_value = annotation.partition("=")
        annotation_value = annotation_value if equals else None
    if len(problems) > found:
        return None
    return SourceBinding(
        group=group,
        version=version,
        kind=value["kind"],
        resource=value.get("resource") or guess_resource(value["kind"]),
        selector=selector,
        annotation_key=key,
        annotation_value=annotation_value,
        namespace=value.get("namespace"),
        failure_policy=value.get("failurePolicy", "Fail"),
        values=mappings,
    )


def _parse_values(
    value: dict[str, Any], where: str, problems: list[str]
) -> tuple[ValueMapping, ...]:
    mappings: list[ValueMapping] = []
    for target_text, entry in value.items():
        try:
            target = parse_values_path(target_text)
            source = parse_source_path(entry["from"])
        except ValueError as error:
            problems.append(f"{where}[{target_text!r}]: {error}")
            continue
        mappings.append(
            ValueMapping(
                target=target,
                source=source,
                default=entry.get("default"),
                has_default="default" in entry,
                conversion=entry.get("as"),
            )
        )
    targets = sorted(m.target for m in mappings)
    for shorter, longer in itertools.pairwise(targets):
        if longer[: len(shorter)] == shorter:
            problems.append(
                f"{where}: {'.'.join(shorter)!r} and {'.'.join(longer)!r} overlap; "
                "map a value or the values inside it, not both"
            )
    return tuple(mappings)
