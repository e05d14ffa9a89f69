"""Hypothesis strategies for values that sit near a schema's boundaries.

Values are mostly shaped like the schema (so subtle violations are reached),
with nulls, wrong types, boundary numbers and tricky strings mixed in.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

TRICKY_STRINGS = [
    "",
    "a",
    "ab",
    "abc",
    "web",
    "eu",
    "us",
    "lru",
    "8.2",
    "8.3",
    "7.4",
    "256M",
    "1G",
    "12x",
    "example.com",
    "a.org",
    "-bad-.com",
    "EXAMPLE.com",
    "x" * 64,
    "a" * 300,
    "abc\n",
    "ABC",
    "admin@example.com",
    "no-at-sign",
    "a@b",
    "2024-02-29T10:00:00Z",
    "2023-02-29T10:00:00Z",
    "2024-01-01T25:00:00Z",
    "2024-01-01",
    "2024-13-01",
    "10.0.0.1",
    "256.1.1.1",
    "+1.2.3.4",
    "123e4567-e89b-12d3-a456-426614174000",
    "123e4567-e89b-12d3-a456-42661417400",
    "https://example.com/x",
    "relative/path",
    "custom-12",
    "custom-x",
    "standard",
    "burst",
    "disk",
    "bucket",
    "x-trace",
    "trace",
    "app",
    "App",
    "*/5 * * * *",
    "٣",
    "é",
    "ß",
    "line\nbreak",
    "tab\t",
    "café.com",
    "base",
    "ok_user",
    "changeme123",
    "short",
]
TRICKY_NUMBERS = [
    0,
    1,
    -1,
    2,
    3,
    4,
    5,
    8,
    10,
    16,
    20,
    32,
    42,
    64,
    100,
    1023,
    1024,
    5432,
    65535,
    65536,
    70000,
    0.0,
    0.1,
    0.3,
    0.5,
    0.7,
    1.0,
    1.5,
    0.01,
    0.07,
    0.99,
    1.01,
    2.5,
    -0.5,
    1e21,
    1e-7,
    2**53,
    2**53 + 1,
    2**63,
    16.0,
    42.0,
]


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(TRICKY_STRINGS),
        st.sampled_from(TRICKY_NUMBERS),
        st.integers(min_value=-(2**31), max_value=2**31),
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.text(
            alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)), max_size=12
        ),
    )


def junk(depth: int = 2) -> st.SearchStrategy[Any]:
    if depth <= 0:
        return scalars()
    return st.one_of(
        scalars(),
        st.lists(junk(depth - 1), max_size=3),
        st.dictionaries(
            st.sampled_from(["a", "b", "enabled", "port", "global", "x-y"]),
            junk(depth - 1),
            max_size=3,
        ),
    )


class SchemaValues:
    """Builds a strategy from a schema document (local $ref, allOf/anyOf/oneOf, types)."""

    def __init__(self, root: Any, max_depth: int = 5) -> None:
        self.root = root
        self.max_depth = max_depth

    def resolve(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 10:
            node = self._pointer(node["$ref"])
            seen += 1
        return node

    def _pointer(self, ref: str) -> Any:
        node = self.root
        for part in ref.lstrip("#").split("/")[1:]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def values(self, node: Any, depth: int = 0) -> st.SearchStrategy[Any]:
        node = self.resolve(node)
        if depth >= self.max_depth or not isinstance(node, dict):
            return junk(1)
        options: list[st.SearchStrategy[Any]] = [self._shaped(node, depth)]
        for key in ("allOf", "anyOf", "oneOf"):
            options += [self.values(branch, depth + 1) for branch in node.get(key) or ()]
        if "then" in node:
            options.append(self.values(node["then"], depth + 1))
        shaped = st.one_of(*options)
        # mostly shaped values, sometimes anything at all
        return st.one_of(shaped, shaped, shaped, junk(1))

    def _shaped(self, node: dict, depth: int) -> st.SearchStrategy[Any]:  # noqa: PLR0911
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        types = node.get("type")
        types = [types] if isinstance(types, str) else (types or [])
        if "properties" in node or "patternProperties" in node or "object" in types:
            return self._object(node, depth)
        if "array" in types or "items" in node or "prefixItems" in node:
            return self._array(node, depth)
        if "integer" in types:
            return st.one_of(
                st.sampled_from([n for n in TRICKY_NUMBERS if float(n).is_integer()]),
                st.integers(-100, 70000),
            )
        if "number" in types:
            return st.sampled_from(TRICKY_NUMBERS)
        if "boolean" in types:
            return st.booleans()
        if "string" in types:
            return st.one_of(
                st.sampled_from(TRICKY_STRINGS),
                st.from_regex(node["pattern"]) if "pattern" in node else st.text(max_size=8),
            )
        return scalars()

    def _object(self, node: dict, depth: int) -> st.SearchStrategy[Any]:
        optional = {
            name: self.values(sub, depth + 1)
            for name, sub in (node.get("properties") or {}).items()
        }
        extra_names = ["extra", "x-note", "Zz"] + [
            sample
            for pattern in (node.get("patternProperties") or {})
            for sample in ("abc", "a1", "web")
        ]
        additional = node.get("additionalProperties")
        extra_values = (
            self.values(additional, depth + 1) if isinstance(additional, dict) else junk(1)
        )
        extras = st.dictionaries(st.sampled_from(extra_names), extra_values, max_size=2)
        fixed = st.fixed_dictionaries({}, optional=optional)
        return st.builds(lambda a, b: {**b, **a}, fixed, extras)

    def _array(self, node: dict, depth: int) -> st.SearchStrategy[Any]:
        items = node.get("items")
        prefix = node.get("prefixItems") or (items if isinstance(items, list) else [])
        item = self.values(items, depth + 1) if isinstance(items, dict) else junk(1)
        head = st.tuples(*(self.values(p, depth + 1) for p in prefix)).map(list)
        return st.one_of(
            st.lists(item, max_size=4),
            st.builds(lambda h, t: h + t, head, st.lists(item, max_size=2)),
        )
