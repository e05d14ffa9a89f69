"""Compiling a chart's values.schema.json into a validator that judges like Helm.

Helm (v4.3.1) validates with santhosh-tekuri/jsonschema v6. What that means
here, with the evidence in that library's source:

- Dialect: the draft named by ``$schema`` (draft-04, -06, -07, 2019-09,
  2020-12; http or https). Without ``$schema`` the library's default,
  ``draftLatest = Draft2020`` (draft.go; NewCompiler sets it in roots.go), so
  2020-12.
- ``format``: asserted for drafts 4/6/7, annotation only for 2019-09 and
  2020-12 (objcompiler.go ``assertFormat``: ``draftVersion < 2019``; Helm never
  calls ``AssertFormat``). Formats follow the library's own checks
  (lostromos.values.go_formats), unknown formats pass.
- Numbers: Helm hands the validator float64 values and compares them as exact
  decimals (big.Rat of the shortest decimal form), so 0.3 is a multiple of
  0.1 and integers above 2**53 lose precision first. An integral number is
  an "integer" in every draft.
- ``pattern``/``patternProperties`` are Go regular expressions, run on RE2 in
  linear time (lostromos.values.go_regex).
- ``urn:`` references Helm cannot resolve are treated as ``true``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol, cast

import jsonschema
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema import validators as jsonschema_validators
from jsonschema.exceptions import ValidationError, best_match

from lostromos.values import go_formats, go_regex

BASE_URI = "file:///values.schema.json"
_NOT_SUBSCHEMAS = frozenset({"enum", "const", "default", "examples"})


class Resolved(Protocol):
    """What referencing's Resolver.lookup returns (the class is not public API)."""

    @property
    def contents(self) -> Any: ...
    @property
    def resolver(self) -> Resolver: ...


class Resolver(Protocol):
    """referencing's Resolver as far as lostromos uses it; referencing exports only
    Registry, Resource, Specification and Anchor, so the type is described here."""

    def lookup(self, ref: str) -> Resolved: ...


class SchemaProblem(ValueError):
    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer}: {message}")
        self.pointer = pointer
        self.message = message


_DRAFTS: dict[str, ValidatorClass] = {
    "json-schema.org/schema": jsonschema.Draft202012Validator,
    "json-schema.org/draft/2020-12/schema": jsonschema.Draft202012Validator,
    "json-schema.org/draft/2019-09/schema": jsonschema.Draft201909Validator,
    "json-schema.org/draft-07/schema": jsonschema.Draft7Validator,
    "json-schema.org/draft-06/schema": jsonschema.Draft6Validator,
    "json-schema.org/draft-04/schema": jsonschema.Draft4Validator,
}
ValidatorClass = type[jsonschema.protocols.Validator]
DRAFT_VERSION: dict[ValidatorClass, int] = {
    jsonschema.Draft202012Validator: 2020,
    jsonschema.Draft201909Validator: 2019,
    jsonschema.Draft7Validator: 7,
    jsonschema.Draft6Validator: 6,
    jsonschema.Draft4Validator: 4,
}


def base_validator_for(schema: Any) -> type[jsonschema.protocols.Validator]:
    if not isinstance(schema, dict) or "$schema" not in schema:
        return jsonschema.Draft202012Validator
    declared = schema["$schema"]
    if not isinstance(declared, str):
        return jsonschema.Draft202012Validator
    address, _, fragment = declared.partition("#")
    for prefix in ("http://", "https://"):
        if address.startswith(prefix):
            address = address[len(prefix) :]
            break
    found = _DRAFTS.get(address) if not fragment else None
    if found is None:
        raise SchemaProblem("/$schema", f"unsupported JSON Schema draft {declared!r}")
    return found


GO_FORMAT_CHECKER = jsonschema.FormatChecker(formats=())
go_regex.use_for_jsonschema()
for _name, _check in go_formats.FORMATS.items():
    GO_FORMAT_CHECKER.checks(_name)(
        lambda value, check=_check: not isinstance(value, str) or check(value)
    )


def exact_number(number: Any) -> Fraction:
    """A JSON number as Helm compares it: the exact value of its shortest decimal form."""
    if isinstance(number, float):
        return Fraction(Decimal(repr(number)))
    return Fraction(number)


def _is_number(validator: Any, instance: Any) -> bool:
    return bool(validator.is_type(instance, "number"))


def _bound(keyword: str, fails: Callable[[Fraction, Fraction], bool]) -> Callable[..., Any]:
    def check(
        validator: Any, limit: Any, instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if isinstance(limit, bool) or not _is_number(validator, instance):
            return
        if fails(exact_number(instance), exact_number(limit)):
            yield ValidationError(f"{instance!r} fails {keyword} {limit!r}")

    return check


def _draft4_bound(keyword: str, exclusive_key: str, below: bool) -> Callable[..., Any]:
    def check(
        validator: Any, limit: Any, instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if not _is_number(validator, instance):
            return
        value, bound = exact_number(instance), exact_number(limit)
        exclusive = schema.get(exclusive_key) is True
        if below:
            failed = value <= bound if exclusive else value < bound
        else:
            failed = value >= bound if exclusive else value > bound
        if failed:
            yield ValidationError(f"{instance!r} fails {keyword} {limit!r}")

    return check


def _multiple_of(
    validator: Any, step: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not _is_number(validator, instance) or isinstance(step, bool) or step == 0:
        return
    if (exact_number(instance) / exact_number(step)).denominator != 1:
        yield ValidationError(f"{instance!r} is not a multiple of {step!r}")


def _is_integer(checker: Any, instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())


def _helm_validator_class(base: ValidatorClass) -> ValidatorClass:
    version = DRAFT_VERSION[base]
    overrides: dict[str, Callable[..., Any]] = {"multipleOf": _multiple_of}
    if version == 4:
        overrides["minimum"] = _draft4_bound("minimum", "exclusiveMinimum", below=True)
        overrides["maximum"] = _draft4_bound("maximum", "exclusiveMaximum", below=False)
    else:
        overrides["minimum"] = _bound("minimum", lambda v, b: v < b)
        overrides["maximum"] = _bound("maximum", lambda v, b: v > b)
        overrides["exclusiveMinimum"] = _bound("exclusiveMinimum", lambda v, b: v <= b)
        overrides["exclusiveMaximum"] = _bound("exclusiveMaximum", lambda v, b: v >= b)
    type_checker = base.TYPE_CHECKER.redefine("integer", _is_integer)
    extended = jsonschema_validators.extend(  # type: ignore[no-untyped-call]  # untyped in the stubs
        base, validators=overrides, type_checker=type_checker
    )
    return cast(ValidatorClass, extended)


_HELM_CLASSES = {base: _helm_validator_class(base) for base in DRAFT_VERSION}


def _retrieve(uri: str) -> referencing.Resource:
    if uri.startswith("urn:"):
        return referencing.Resource.from_contents(
            True, default_specification=referencing.jsonschema.DRAFT202012
        )
    # referencing's attrs classes take their fields as keywords; mypy cannot see that
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


@dataclass(frozen=True)
class CompiledSchema:
    """A schema ready to validate values again and again (thread-safe to share)."""

    validator: Any  # a jsonschema validator instance over the translated schema
    draft: int
    original_patterns: dict[str, str]  # pattern as the validator holds it -> as written
    registry: referencing.Registry  # what the validator resolves $ref against

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        errors: Iterator[ValidationError] = self.validator.iter_errors(instance)
        return errors

    @property
    def schema(self) -> Any:
        return self.validator.schema

    def resolver(self) -> Resolver:
        return self.registry.resolver(base_uri=BASE_URI)


def compile_schema(schema: Any) -> CompiledSchema:
    """Raises SchemaProblem (JSON pointer + message) where Helm could not compile it."""
    base = base_validator_for(schema)
    meta = base(base.META_SCHEMA, format_checker=GO_FORMAT_CHECKER)
    try:
        error = best_match(meta.iter_errors(schema))
    except RecursionError:
        raise SchemaProblem("", "schema nested too deeply") from None
    if error is not None:
        raise SchemaProblem(_pointer(error.absolute_path), error.message)
    patterns: dict[str, str] = {}
    translated = _translate_patterns(schema, "", patterns)
    if isinstance(translated, dict):
        id_key = "id" if DRAFT_VERSION[base] == 4 else "$id"
        translated.setdefault(id_key, BASE_URI)
    specification = referencing.jsonschema.specification_with(
        base.META_SCHEMA["$schema"], default=referencing.jsonschema.DRAFT202012
    )
    resource = referencing.Resource.from_contents(translated, default_specification=specification)
    registry = referencing.Registry(  # type: ignore[call-arg]  # attrs keywords, as above
        retrieve=_retrieve
    ).with_resource(BASE_URI, resource)
    checker = GO_FORMAT_CHECKER if DRAFT_VERSION[base] < 2019 else None
    validator = _HELM_CLASSES[base](translated, registry=registry, format_checker=checker)
    compiled = CompiledSchema(
        validator=validator,
        draft=DRAFT_VERSION[base],
        original_patterns=patterns,
        registry=registry,
    )
    _check_references(translated, "", compiled.resolver())
    return compiled


def _translate_patterns(node: Any, pointer: str, patterns: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [
            _translate_patterns(item, f"{pointer}/{i}", patterns) for i, item in enumerate(node)
        ]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        where = f"{pointer}/{_escape(key)}"
        if key in _NOT_SUBSCHEMAS:
            result[key] = copy.deepcopy(value)
        elif key == "pattern" and isinstance(value, str):
            result[key] = _go_pattern(value, where, patterns, grouped=False)
        elif key == "patternProperties" and isinstance(value, dict):
            result[key] = {
                _go_pattern(
                    name, f"{where}/{_escape(name)}", patterns, grouped=True
                ): _translate_patterns(sub, f"{where}/{_escape(name)}", patterns)
                for name, sub in value.items()
            }
        else:
            result[key] = _translate_patterns(value, where, patterns)
    return result


def _go_pattern(pattern: str, pointer: str, patterns: dict[str, str], *, grouped: bool) -> str:
    try:
        go_regex.check(pattern)
    except go_regex.RegexError as error:
        raise SchemaProblem(pointer, f"invalid regular expression {pattern!r}: {error}") from None
    # jsonschema joins patternProperties' keys with "|" to find additional
    # properties; a group keeps each key's flags ("(?i)") to itself, as Go's
    # library, which tries each key alone, does
    held = f"(?:{pattern})" if grouped else pattern
    patterns[held] = pattern
    return held


def _check_references(node: Any, pointer: str, resolver: Resolver) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _check_references(item, f"{pointer}/{index}", resolver)
        return
    if not isinstance(node, dict):
        return
    resource_id = node.get("$id", node.get("id"))
    if pointer and isinstance(resource_id, str) and "://" in resource_id:
        # an embedded resource (a bundled remote document): its references are relative to it
        with contextlib.suppress(referencing.exceptions.Unresolvable):
            resolver = resolver.lookup(resource_id).resolver
    reference = node.get("$ref")
    if isinstance(reference, str):
        try:
            resolver.lookup(reference)  # a remote document embedded by remote_refs resolves
        except referencing.exceptions.Unresolvable:
            if reference.startswith(("http://", "https://")):
                raise SchemaProblem(
                    f"{pointer}/$ref",
                    f"remote reference {reference!r} is not resolved: allow "
                    "its host in the binding's remoteSchemaHosts, or inline it with `lostromos "
                    "schema bundle`",
                ) from None
            raise SchemaProblem(f"{pointer}/$ref", f"cannot resolve {reference!r}") from None
    for key, value in node.items():
        if key not in _NOT_SUBSCHEMAS:
            _check_references(value, f"{pointer}/{_escape(key)}", resolver)


def _escape(token: Any) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _pointer(path: Any) -> str:
    return "".join(f"/{_escape(part)}" for part in path)
