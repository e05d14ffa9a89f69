"""The bindings file's JSON schema (lostromos/bindings.schema.json) and its
problems as people read them: every problem at once, each with its path
(`bindings[0] (site).release.retries`) and, for a misspelt key, the key meant.

The operator chart's values.schema.json carries the same definitions, so
`helm install` refuses exactly what the controller would.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("bindings.schema.json")

# What a pattern means, for messages (".kind: 'site' is not a CamelCase kind such as Site").
PATTERN_MEANINGS = {
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "a lowercase DNS label",
    "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$": "a DNS subdomain",
    "^v[0-9]+((alpha|beta)[0-9]+)?$": "a version such as v1",
    "^[A-Z][A-Za-z0-9]*$": "a CamelCase kind such as Site",
    "^(https?|oci)://": "an http(s):// chart repository or an oci:// registry",
    "^(sha256:)?[0-9a-fA-F]{64}$": "a sha256 digest (64 hex digits, optionally prefixed sha256:)",
    "\\{name\\}": "a release name template (it must use {name})",
}
_CHART_FORMS = "a path, {path: DIR}, or {repository: URL, name: NAME, version: VERSION}"


@cache
def bindings_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@cache
def _validator() -> Any:  # jsonschema.Draft7Validator: imported here, it costs CLI start-up
    from jsonschema import Draft7Validator

    return Draft7Validator(bindings_schema())


def schema_problems(document: Any) -> list[str]:
    """Every way `document` breaks the bindings schema, as `path: problem` lines."""
    problems: list[str] = []
    for error in _validator().iter_errors(document):
        problems.extend(_describe(error, document))
    return sorted(dict.fromkeys(problems), key=_document_order)


def _document_order(problem: str) -> tuple[int, str]:
    start = problem.find("bindings[")
    if start < 0:
        return (-1, problem)
    digits = problem[start + len("bindings[") :].split("]", 1)[0]
    return (int(digits) if digits.isdigit() else -1, problem)


def where(path: Iterable[Any], document: Any) -> str:
    """`bindings[0] (site).release.name`: list items by index, a binding by its name too."""
    text = ""
    node = document
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
            node = node[step] if isinstance(node, list) and step < len(node) else None
            if text == f"bindings[{step}]" and isinstance(node, dict):
                text += f" ({binding_name(node)})"
        else:
            text += f".{step}" if text else str(step)
            node = node.get(step) if isinstance(node, dict) else None
    return text


def binding_name(entry: dict[str, Any]) -> str:
    name = entry.get("name")
    if isinstance(name, str):
        return name
    kind = entry.get("kind")
    return kind.lower() if isinstance(kind, str) else "?"


def _describe(error: Any, document: Any) -> Iterator[str]:
    path = list(error.absolute_path)
    at = where(path, document)
    value = error.instance
    rule = error.validator
    if rule == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        for key in sorted(set(value) - set(known)):
            yield f"{_join(at, key)}: unknown field{_did_you_mean(key, known)}"
    elif rule == "required":
        missing = error.message.split("'")[1]
        yield f"{_join(at, missing)}: missing required field"
    elif rule == "oneOf" and path and path[-1] == "chart":
        yield from _chart_problems(error, at, value, document)
    elif rule == "pattern":
        meaning = PATTERN_MEANINGS.get(error.validator_value, f"matching {error.validator_value}")
        yield f"{at}: {value!r} is not {meaning}"
    elif rule == "type" and not path:
        yield "expected a mapping with a 'bindings' list"
    elif rule == "type":
        yield f"{at}: {value!r} must be {_type_words(error.validator_value)}"
    elif rule in ("minimum", "maximum"):
        bound = "at least" if rule == "minimum" else "at most"
        yield f"{at}: {value!r} must be {bound} {error.validator_value}"
    elif rule == "minLength":
        yield f"{at}: must not be empty"
    elif rule == "minItems":
        yield f"{at}: must be a non-empty list"
    elif rule == "const":
        yield f"{at}: {value!r} is not {error.validator_value!r}"
    else:
        yield f"{at or '(top)'}: {error.message}"


def _chart_problems(error: Any, at: str, value: Any, document: Any) -> Iterator[str]:
    """`chart` is one of three forms: report against the form it was meant to be."""
    if isinstance(value, str):
        yield f"{at}: a chart path must not be empty"
        return
    if not isinstance(value, dict):
        yield f"{at}: {value!r} must be {_CHART_FORMS}"
        return
    meant = 1 if "path" in value else 2
    for sub in error.context:
        if sub.schema_path and sub.schema_path[0] == meant:
            yield from _describe(sub, document)


def _join(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (known: {', '.join(known)})"


def _type_words(types: str | list[str]) -> str:
    words = {
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "array": "a list",
        "object": "a mapping",
        "null": "null",
    }
    names = [types] if isinstance(types, str) else types
    return " or ".join(words.get(name, name) for name in names)
