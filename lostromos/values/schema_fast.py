"""A chart's schema compiled once into a plain Python predicate: valid or not.

jsonschema re-reads the schema for every value it judges (a validator object
per subschema, keyword functions looked up by name, ``$ref`` resolved through
``referencing`` on every visit); for a chart's schema that walk is most of what
judging a spec costs. Here each subschema is compiled once, when the values
engine is built, into a closure that answers one question: are these values
valid? The engine trusts it only when it says yes; when it says no, jsonschema
judges again and names every error, so messages are exactly as before.

The closures mirror, keyword by keyword, the validator class that
lostromos.values.schema_compile builds (jsonschema's keyword functions with
Helm's number rules, patterns on RE2, formats as Helm asserts them), over plain
JSON data (lostromos.values.plain_json: the engine asks about nothing else).
Where this module is not sure to judge exactly as that class, the schema gets
no predicate and jsonschema alone judges it: a keyword the class validates
and no compiler here knows (``unevaluatedProperties``, ``$dynamicRef``,
``$recursiveRef``), a subschema with its own ``$schema`` (jsonschema switches
to the stock class of that dialect there), a subschema with its own ``$id``
reached other than by ``$ref``, a reference that does not resolve. Keywords
the class ignores (annotations, unknown words) are ignored here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import referencing
import referencing.exceptions
import referencing.jsonschema

from lostromos.values import go_regex
from lostromos.values import schema_fast_containers as containers
from lostromos.values import schema_fast_keywords as keywords
from lostromos.values.schema_compile import GO_FORMAT_CHECKER, CompiledSchema, Resolver
from lostromos.values.schema_fast_keywords import (
    Check,
    KeywordContext,
    Unsupported,
    all_of,
    always,
    never,
)

__all__ = ["Check", "compile_predicate"]

KeywordCompiler = Callable[[KeywordContext, Any], Check]
KEYWORDS: dict[str, KeywordCompiler] = {
    "type": keywords.type_,
    "enum": keywords.enum,
    "const": keywords.const,
    "$ref": keywords.ref,
    "allOf": keywords.all_of_keyword,
    "anyOf": keywords.any_of,
    "oneOf": keywords.one_of,
    "not": keywords.not_,
    "if": keywords.if_,
    "minimum": keywords.minimum,
    "maximum": keywords.maximum,
    "exclusiveMinimum": keywords.exclusive_minimum,
    "exclusiveMaximum": keywords.exclusive_maximum,
    "multipleOf": keywords.multiple_of,
    "minLength": keywords.min_length,
    "maxLength": keywords.max_length,
    "pattern": keywords.pattern,
    "format": keywords.format_,
    "properties": containers.properties,
    "additionalProperties": containers.additional_properties,
    "patternProperties": containers.pattern_properties,
    "propertyNames": containers.property_names,
    "required": containers.required,
    "minProperties": containers.min_properties,
    "maxProperties": containers.max_properties,
    "dependentRequired": containers.dependent_required,
    "dependentSchemas": containers.dependent_schemas,
    "dependencies": containers.dependencies,
    "items": containers.items,
    "prefixItems": containers.prefix_items,
    "additionalItems": containers.additional_items,
    "contains": containers.contains,
    "minItems": containers.min_items,
    "maxItems": containers.max_items,
    "uniqueItems": containers.unique_items,
}


def compile_predicate(compiled: CompiledSchema) -> Check | None:
    """The schema's predicate, or None where only jsonschema can judge it."""
    try:
        return _Compiler(compiled).root()
    except (Unsupported, referencing.exceptions.Unresolvable, RecursionError):
        return None
    except Exception:  # a schema shaped as no dialect allows it: jsonschema's to judge
        return None


class _Compiler:
    def __init__(self, compiled: CompiledSchema) -> None:
        validator_class = type(compiled.validator)
        self.keywords = frozenset(validator_class.VALIDATORS)
        self.draft = compiled.draft
        self.root_schema = compiled.schema
        self.specification = referencing.jsonschema.specification_with(
            validator_class.META_SCHEMA["$schema"], default=referencing.jsonschema.DRAFT202012
        )
        root = self.specification.create_resource(compiled.schema)
        self.root_resolver: Resolver = compiled.registry.resolver_with_root(root)
        self.formats = GO_FORMAT_CHECKER if compiled.draft < 2019 else None
        # compiled subschemas by identity: shared $ref targets compile once, cycles close
        self._done: dict[int, Check] = {}

    def root(self) -> Check:
        return self.schema(self.root_schema, self.root_resolver, top=True)

    def descend(self, schema: Any, resolver: Resolver) -> Check:
        """A subschema as jsonschema's descend() judges it."""
        self._refuse_own_scope(schema)
        return self.schema(schema, resolver)

    def evolve(self, schema: Any, resolver: Resolver) -> Check:
        """A subschema as evolve(schema=...).is_valid() judges it (not, if, contains)."""
        self._refuse_own_scope(schema)
        return self.schema(schema, resolver)

    def reference(self, ref: str, resolver: Resolver) -> Check:
        resolved = resolver.lookup(ref)
        return self.schema(resolved.contents, resolved.resolver)

    def pattern(self, pattern: str) -> Callable[[str], bool]:
        return go_regex.matcher(pattern)

    def _refuse_own_scope(self, schema: Any) -> None:
        # descend() and evolve() scope such a subschema differently; by $ref it is one scope
        if isinstance(schema, dict) and self.specification.id_of(schema) is not None:
            raise Unsupported("a subschema with its own $id")

    def schema(self, schema: Any, resolver: Resolver, *, top: bool = False) -> Check:
        if schema is True:
            return always
        if schema is False:
            return never
        if not isinstance(schema, dict):
            raise Unsupported(f"a schema that is a {type(schema).__name__}")
        if "$schema" in schema and not top:
            raise Unsupported("a subschema with its own $schema")
        known = self._done.get(id(schema))
        if known is not None:
            return known
        cell: list[Check] = []
        # what a cycle calls back into before the schema is compiled
        self._done[id(schema)] = lambda value: cell[0](value)  # noqa: PLW0108 - cell is filled later
        check = self._keywords(schema, resolver)
        cell.append(check)
        self._done[id(schema)] = check
        return check

    def _keywords(self, schema: dict[str, Any], resolver: Resolver) -> Check:
        applicable = schema.items()
        if self.draft < 2019 and "$ref" in schema:
            applicable = {"$ref": schema["$ref"]}.items()  # $ref's siblings are ignored
        context = KeywordContext(self, schema, resolver)
        checks: list[Check] = []
        for keyword, value in applicable:
            if keyword not in self.keywords:
                continue  # an annotation, or a word this dialect does not define
            compile_keyword = KEYWORDS.get(keyword)
            if compile_keyword is None:
                raise Unsupported(f"the keyword {keyword}")
            checks.append(compile_keyword(context, value))
        return all_of(checks)
