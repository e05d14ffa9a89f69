"""Turning a chart's values.schema.json into a Kubernetes structural OpenAPI v3 schema.

Two modes, because two judges can look at a spec:

- ``webhook``: the admission webhook (the values engine, Helm-exact) is the
  only judge. The CRD's spec schema is the chart's property tree with its
  descriptions, every node keeping what it is given
  (``x-kubernetes-preserve-unknown-fields``), so ``kubectl explain`` works and
  the API server stores what the webhook admitted - and a bad spec is refused
  by the webhook with every problem named at once.
- ``full``: the API server enforces whatever OpenAPI can say the way Helm
  means it: types, enums, patterns, ranges, lengths, defaults values.yaml does
  not already supply, and unknown fields pruned where the chart closes an
  object. Formats are left to the webhook: the API server's checks and Helm's
  disagree at the edges.
  What cannot be expressed is left to the webhook, and each such place is
  reported as a ConversionNote.

Both modes give every node its JSON type where the chart declares exactly one
(so ``kubectl explain`` and ``kubectl get -o`` print types) and make every node
``nullable``: the API server prunes a ``null`` under a non-nullable node before
the webhook sees it, and a ``null`` the user writes means to Helm "delete the
chart's default" (denied where the key is required). Enums gain ``null`` for the
same reason. A type is only ever the one the chart declares (or the one its
enum or typed ``anyOf`` branches imply): a bare ``properties`` or ``minLength``
does not make a node an object or a string in JSON Schema, so it does not here.

Full mode never refuses what Helm accepts. The API server sees the user's
values before Helm coalesces them over values.yaml, so where the chart's
coalesced defaults (values.yaml, subcharts, binding overrides) supply a key,
``required`` for it is dropped, and object-level ``minProperties``, ``enum``
and junctors are left to the webhook where values.yaml supplies that object.
A schema default is carried over only where values.yaml has nothing (values.yaml
wins when Helm renders), and only when it is valid against its own converted
node (the API server refuses a CRD whose defaults fail their schema).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeGuard

from lostromos.authoring import Mode, crdsim
from lostromos.authoring.crdsim import INT_OR_STRING, PRESERVE
from lostromos.authoring.refs import CYCLE, REFS, SchemaDocument
from lostromos.values.jsontype import json_type
from lostromos.values.schema_compile import DRAFT_VERSION, SchemaProblem, base_validator_for

# The formats kube-apiserver validates (apiextensions JSONSchemaProps.format).
APISERVER_FORMATS = frozenset(
    {
        "bsonobjectid",
        "uri",
        "email",
        "hostname",
        "ipv4",
        "ipv6",
        "cidr",
        "mac",
        "uuid",
        "uuid3",
        "uuid4",
        "uuid5",
        "isbn",
        "isbn10",
        "isbn13",
        "creditcard",
        "ssn",
        "hexcolor",
        "rgbcolor",
        "byte",
        "password",
        "date",
        "duration",
        "date-time",
        "datetime",
    }
)
_VALUE_KEYWORDS = frozenset(
    {
        "enum",
        "const",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "required",
        "description",
        "title",
        "$comment",
    }
)
# Keywords with no OpenAPI v3 counterpart that still restrict values: the webhook checks them.
_WEBHOOK_ONLY = {
    "if": "if/then/else",
    "dependentRequired": "dependentRequired",
    "dependentSchemas": "dependentSchemas",
    "dependencies": "dependencies",
    "propertyNames": "propertyNames",
    "unevaluatedProperties": "unevaluatedProperties",
    "unevaluatedItems": "unevaluatedItems",
    "contains": "contains",
}
MISSING = object()


@dataclass(frozen=True, order=True)
class ConversionNote:
    """A place where the chart schema says something a structural schema cannot."""

    where: str  # spec.php.version, spec.plugins[] for the items of a list
    construct: str
    action: str

    def describe(self) -> str:
        return f"{self.where}: {self.construct}: {self.action}"


def path_text(path: tuple, root: str = "spec") -> str:
    text = root
    for part in path:
        text += "[]" if part == "[]" else f".{part}"
    return text


def _fits(value: Any, kind: str) -> bool:
    found = json_type(value)
    return found == kind or (kind == "number" and found == "integer")


class SchemaConverter:
    """Converts one chart schema; `convert()` returns the spec schema and the notes."""

    def __init__(self, schema: Any, values: dict, mode: Mode = "full") -> None:
        """`values` are the chart's coalesced defaults: what Helm renders with an empty spec."""
        self.document = SchemaDocument(schema)
        self.values = values
        self.mode = mode
        try:
            self.draft = DRAFT_VERSION[base_validator_for(schema)]
        except SchemaProblem:
            self.draft = 2020
        self.notes: list[ConversionNote] = []

    def convert(self, description: str) -> tuple[dict, list[ConversionNote]]:
        self.notes = []
        root = self.document.root
        if root is None or root is True or root == {}:
            spec = {"type": "object", PRESERVE: True, "description": description}
        else:
            node = self._node(root, (), frozenset(), self.values)
            spec = {**node, "type": "object"}
            if node.get("type") not in (None, "object"):
                self._note(
                    (),
                    f"top-level type {node['type']!r}",
                    "a spec is always an object; the webhook refuses anything else",
                )
                spec = {"type": "object", PRESERVE: True}
            spec.pop(INT_OR_STRING, None)
            spec.pop("nullable", None)
            spec.setdefault("description", description)
        return spec, sorted(set(self.notes))

    def _note(self, path: tuple, construct: str, action: str) -> None:
        self.notes.append(ConversionNote(path_text(path), construct, action))

    # --- one node -------------------------------------------------------------

    def _node(self, node: Any, path: tuple, active: frozenset[str], here: Any) -> dict:
        flat = self.document.flatten(node, active)
        out: dict = {}
        description = flat.get("description") or flat.get("title")
        if isinstance(description, str) and description:
            if flat.get("deprecated") is True and "deprecat" not in description.lower():
                description = f"Deprecated. {description}"
            out["description"] = description
        if CYCLE in flat:
            if "description" not in out and flat[CYCLE] in active:
                target = self.document.lookup(flat[CYCLE])
                if isinstance(target, dict) and isinstance(target.get("description"), str):
                    out["description"] = target["description"]
            self._note(
                path, "recursive $ref", "kept as given below this point; the webhook checks it"
            )
            return {**out, PRESERVE: True, "nullable": True}
        active = active | set(flat.pop(REFS, ()))
        if self.mode == "webhook":
            converted = self._documented(flat, path, active, here, out)
        else:
            converted = self._typed(flat, path, active, here, out)
        # A null the user writes must reach the webhook: Helm gives it a meaning.
        converted["nullable"] = True
        return converted

    def _documented(
        self, flat: dict, path: tuple, active: frozenset[str], here: Any, out: dict
    ) -> dict:
        """Descriptions and the declared type: the webhook judges everything else.

        What the schema would refuse is told in words instead, so `kubectl explain`
        shows a user what to write (allowed values, the default, required fields).
        """
        hint = _hint(flat, here)
        if hint:
            out["description"] = f"{out['description']}\n\n{hint}" if "description" in out else hint
        kinds, _ = self._types(flat, path, active)
        if kinds == {"integer", "string"}:
            out[INT_OR_STRING] = True
            return out
        kind = next(iter(kinds)) if len(kinds) == 1 else None
        if kind is not None:
            out["type"] = kind
        if kind in (None, "object"):
            out[PRESERVE] = True
        self._children(flat, path, active, here, out, kind=kind)
        return out

    def _children(
        self,
        flat: dict,
        path: tuple,
        active: frozenset[str],
        here: Any,
        out: dict,
        *,
        kind: str | None,
    ) -> None:
        """Documented child nodes, for a node whose own values the webhook judges."""
        properties = flat.get("properties")
        if kind in (None, "object") and isinstance(properties, dict) and properties:
            out["properties"] = {
                name: self._node(child, (*path, name), active, _child(here, name))
                for name, child in properties.items()
            }
            for name in _required_unsupplied(flat, here):
                if name in out["properties"]:
                    node = out["properties"][name]
                    node["description"] = "Required. " + node.get("description", "")
        items = flat.get("items")
        if kind in (None, "array") and isinstance(items, dict) and items:
            out["items"] = self._node(items, (*path, "[]"), active, MISSING)
        elif kind == "array":
            out["items"] = {PRESERVE: True, "nullable": True}

    def _typed(self, flat: dict, path: tuple, active: frozenset[str], here: Any, out: dict) -> dict:
        for keyword, construct in _WEBHOOK_ONLY.items():
            if keyword in flat:
                self._note(path, construct, "not expressible in a CRD; the webhook checks it")
        kinds, _ = self._types(flat, path, active)
        if kinds == {"integer", "string"}:
            out[INT_OR_STRING] = True
            self._note(
                path,
                "type integer or string",
                "x-kubernetes-int-or-string; the webhook checks the other constraints",
            )
            return out
        if len(kinds) != 1:
            out[PRESERVE] = True
            if kinds:
                self._note(
                    path,
                    f"type {' or '.join(sorted(kinds))}",
                    "any value is kept; the webhook checks the type",
                )
            self._children(flat, path, active, here, out, kind=None)
            return out
        (kind,) = kinds
        out["type"] = kind
        converters = {
            "object": self._object,
            "array": self._array,
            "string": self._string,
            "integer": self._number,
            "number": self._number,
        }
        if kind in converters:
            converters[kind](flat, path, active, here, out)
        self._enum(flat, kind, here, out)
        if not (kind == "object" and _supplied(here)):
            self._junctors(flat, kind, path, out)
        else:
            for keyword in ("anyOf", "oneOf", "not"):
                if keyword in flat:
                    self._note(
                        path,
                        keyword,
                        "values.yaml supplies this object and Helm "
                        "judges it after merging the spec in; the webhook checks it",
                    )
        self._default(flat, kind, path, here, out)
        return out

    def _types(self, flat: dict, path: tuple, active: frozenset[str]) -> tuple[set[str], bool]:
        declared = flat.get("type")
        if isinstance(declared, str):
            kinds = {declared}
        elif isinstance(declared, list):
            kinds = {kind for kind in declared if isinstance(kind, str)}
        else:
            kinds = self._implied_types(flat, active)
        enum = flat["enum"] if isinstance(flat.get("enum"), list) else []
        nullable = "null" in kinds or None in enum or ("const" in flat and flat["const"] is None)
        kinds.discard("null")
        if "number" in kinds and "integer" in kinds:
            kinds.discard("integer")
        return kinds, nullable

    def _implied_types(self, flat: dict, active: frozenset[str]) -> set[str]:
        # Only what restricts the type itself: `properties` or `minLength` on an untyped
        # node constrain objects or strings but let every other type through.
        values = (
            flat["enum"]
            if isinstance(flat.get("enum"), list)
            else ([flat["const"]] if "const" in flat else [])
        )
        kinds = {json_type(value) for value in values}
        if kinds:
            return kinds - {"null"} if kinds - {"null"} else kinds
        branches = [
            self.document.flatten(b, active)
            for b in (flat.get("anyOf") or []) + (flat.get("oneOf") or [])
        ]
        found: set[str] = set()
        for branch in branches:
            declared = branch.get("type")
            if isinstance(declared, str):
                found.add(declared)
            elif isinstance(declared, list):
                found.update(k for k in declared if isinstance(k, str))
            else:
                return set()  # an untyped branch allows anything
        return found

    # --- per type -------------------------------------------------------------

    def _object(
        self, flat: dict, path: tuple, active: frozenset[str], here: Any, out: dict
    ) -> None:
        properties = flat.get("properties") if isinstance(flat.get("properties"), dict) else {}
        extra = flat.get("additionalProperties", True)
        patterns = flat.get("patternProperties")
        if patterns:
            self._note(path, "patternProperties", "keys are kept as given; the webhook checks them")
        if properties:
            out["properties"] = {}
            for name, child in properties.items():
                out["properties"][name] = self._node(
                    child, (*path, name), active, _child(here, name)
                )
            if isinstance(extra, dict) and extra:
                self._note(
                    path,
                    "additionalProperties next to properties",
                    "other keys are kept as given; the webhook checks them",
                )
            if extra is not False or patterns:
                out[PRESERVE] = True
        elif patterns or extra is True or extra == {}:
            out[PRESERVE] = True
        elif isinstance(extra, dict):
            out["additionalProperties"] = self._node(extra, (*path, "*"), active, MISSING)
        # The API server sees the spec before Helm coalesces it over values.yaml: a key
        # values.yaml supplies is there for Helm even when the spec leaves it out.
        required = _required_unsupplied(flat, here)
        if required:
            out["required"] = required
        _copy_ints(
            flat, out, ("maxProperties",) if _supplied(here) else ("minProperties", "maxProperties")
        )

    def _array(self, flat: dict, path: tuple, active: frozenset[str], here: Any, out: dict) -> None:
        items = flat.get("items", True)
        if "prefixItems" in flat or isinstance(items, list):
            self._note(
                path,
                "tuple items (prefixItems or an items list)",
                "items are kept as given; the webhook checks them",
            )
            out["items"] = {PRESERVE: True}
        elif isinstance(items, dict) and items:
            out["items"] = self._node(items, (*path, "[]"), active, MISSING)
        else:
            out["items"] = {PRESERVE: True}
        _copy_ints(flat, out, ("minItems", "maxItems"))
        if flat.get("uniqueItems") is True:
            self._note(
                path, "uniqueItems", "a CRD cannot require unique items; the webhook checks it"
            )

    def _string(
        self, flat: dict, path: tuple, active: frozenset[str], here: Any, out: dict
    ) -> None:
        _copy_ints(flat, out, ("minLength", "maxLength"))
        if isinstance(flat.get("pattern"), str):
            # kube-apiserver and Helm both compile patterns with Go's regexp (RE2).
            out["pattern"] = flat["pattern"]
        chosen = flat.get("format")
        if isinstance(chosen, str):
            if self.draft >= 2019:
                self._note(
                    path,
                    f"format {chosen!r}",
                    f"left out: draft {self.draft} treats format as an annotation and "
                    "Helm does not check it",
                )
            elif chosen in APISERVER_FORMATS:
                # Measured through the real API server: its checks and Helm's disagree at
                # the edges (a leap second in date-time, "+1.2.3.4" as ipv4).
                self._note(
                    path,
                    f"format {chosen!r}",
                    "the API server checks it differently from Helm; the webhook checks it",
                )
            else:
                self._note(
                    path,
                    f"format {chosen!r}",
                    "the API server does not know it; the webhook checks it",
                )

    def _number(
        self, flat: dict, path: tuple, active: frozenset[str], here: Any, out: dict
    ) -> None:
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            limit = flat.get(bound)
            strict = flat.get(exclusive)
            if _is_number(strict):  # draft 6+: the exclusive bound is a number
                below = bound == "minimum"
                if not _is_number(limit) or (strict >= limit if below else strict <= limit):
                    out[bound], out[exclusive] = strict, True
                    continue
            if _is_number(limit):
                out[bound] = limit
                if strict is True:
                    out[exclusive] = True
        step = flat.get("multipleOf")
        if _is_number(step):
            if float(step).is_integer():
                out["multipleOf"] = int(step)
            else:
                self._note(
                    path,
                    f"multipleOf {step}",
                    "the API server divides in floating point; the webhook checks it",
                )

    def _enum(self, flat: dict, kind: str, here: Any, out: dict) -> None:
        values = flat["enum"] if isinstance(flat.get("enum"), list) else None
        if "const" in flat:
            values = [flat["const"]]
        if values is None or (kind == "object" and _supplied(here)):
            return  # an object values.yaml supplies is judged after coalescing: the webhook's
        kept = [_as(kind, value) for value in values if value is not None and _fits(value, kind)]
        if kept:
            # Every node is nullable, but kube-openapi refuses a null under any enum (even one
            # listing null: it never matches). Junctors are not run on a null, so the enum
            # goes into one: nulls pass, other values are checked. An anyOf of one branch,
            # because kubectl explain reads an allOf as a reference and shows the field as
            # <Object>; allOf only where the schema's own anyOf takes that place.
            keyword = "allOf" if isinstance(flat.get("anyOf"), list) else "anyOf"
            out[keyword] = [{"enum": kept}]

    def _junctors(self, flat: dict, kind: str, path: tuple, out: dict) -> None:
        for keyword in ("anyOf", "oneOf"):
            branches = flat.get(keyword)
            if not isinstance(branches, list):
                continue
            kept = [_value_only(b, kind) for b in branches]
            # oneOf fails when two branches match, so a looser branch would refuse more
            lossy = keyword == "oneOf" and any(_lossy_enum(b, kind) for b in kept)
            if all(branch is not None for branch in kept) and any(kept) and not lossy:
                out[keyword] = kept
            else:
                self._note(
                    path, keyword, "its branches declare types or structure; the webhook checks it"
                )
        negated = flat.get("not")
        if negated is not None:
            branch = _value_only(negated, kind)
            if branch and not _lossy_enum(branch, kind):
                out["not"] = branch
            else:
                self._note(path, "not", "not expressible here; the webhook checks it")

    def _default(self, flat: dict, kind: str, path: tuple, here: Any, out: dict) -> None:
        if "default" not in flat or flat["default"] is None or here is not MISSING:
            return  # values.yaml supplies this path, and Helm lets values.yaml win
        default = flat["default"]
        if not _fits(default, kind):
            self._note(
                path, "default", f"a {json_type(default)} does not fit type {kind}; left out"
            )
            return
        if crdsim.prune(default, out) != default:
            self._note(path, "default", "names fields the CRD would prune; left out")
            return
        if crdsim.validate(_as(kind, default), out, path_text(path)):
            # kube-apiserver refuses a CRD whose defaults fail their own schema.
            self._note(path, "default", "not valid against its own schema; left out")
            return
        out["default"] = _as(kind, default)


def _required_unsupplied(flat: dict, here: Any) -> list[str]:
    """Required keys that values.yaml does not supply: the ones a user must write."""
    return sorted(
        {
            name
            for name in flat.get("required") or ()
            if isinstance(name, str) and _child(here, name) is MISSING
        }
    )


def _hint(flat: dict, here: Any) -> str:
    """Allowed values and the default, as a sentence a person reads in kubectl explain."""
    parts = []
    values = [flat["const"]] if "const" in flat else flat.get("enum")
    if isinstance(values, list) and values:
        parts.append("One of: " + ", ".join(json.dumps(v) for v in values) + ".")
    if here is not MISSING and not isinstance(here, dict | list) and here is not None:
        parts.append(f"Default: {json.dumps(here)} (the chart's values.yaml).")
    elif here is MISSING and flat.get("default") is not None:
        parts.append(f"Default: {json.dumps(flat['default'])}.")
    return " ".join(parts)


def _child(here: Any, name: str) -> Any:
    if isinstance(here, dict) and name in here:
        return here[name]
    return MISSING


def _lossy_enum(branch: dict | None, kind: str) -> bool:
    """kube-openapi compares a number with an integer enum member after truncating it (42.5
    matches 42): under `not` or `oneOf` such an enum would refuse values Helm accepts."""
    values = (branch or {}).get("enum") or ()
    return kind == "number" and any(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _supplied(here: Any) -> bool:
    """values.yaml supplies a non-empty object here, which Helm merges the spec's into."""
    return isinstance(here, dict) and bool(here)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as(kind: str, value: Any) -> Any:
    if kind == "integer" and isinstance(value, float):
        return int(value)
    return value


def _copy_ints(source: dict, out: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = source.get(key)
        if _is_number(value) and float(value).is_integer() and value >= 0:
            out[key] = int(value)


def _value_only(branch: Any, kind: str) -> dict | None:
    """The branch as a structural junctor branch (value validations only), or None."""
    if not isinstance(branch, dict) or set(branch) - _VALUE_KEYWORDS:
        return None
    kept: dict = {}
    for key, value in branch.items():
        if key in ("description", "title", "$comment", "format"):
            continue
        if key == "const":
            kept["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and _is_number(value):
            return None
        else:
            kept[key] = value
    if "enum" in kept and not all(_fits(v, kind) for v in kept["enum"]):
        return None
    return kept
