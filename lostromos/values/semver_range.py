"""Semantic version ranges, as far as Helm needs them to match subcharts.

Helm keeps a subchart listed in Chart.yaml only when the subchart's version
satisfies the dependency's version constraint (Masterminds/semver). This
covers the constraint forms charts use in practice: exact versions, ``*``,
``x`` wildcards, comparisons, ``~``, ``^``, hyphen ranges, ``,``/space (and)
and ``||`` (or). A constraint we cannot parse is "not compatible", as in Helm.
"""

from __future__ import annotations

import re

_VERSION = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)
_PART = r"(?:\d+|[xX*])"
_CONSTRAINT = re.compile(
    rf"^\s*(=|!=|>=|=>|<=|=<|>|<|~>|~|\^)?\s*v?({_PART})(?:\.({_PART}))?(?:\.({_PART}))?"
    r"(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?\s*$"
)
_HYPHEN = re.compile(r"^\s*(\S+)\s+-\s+(\S+)\s*$")

Version = tuple[int, int, int, tuple]


def parse_version(text: str) -> Version | None:
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor or 0), int(patch or 0), _pre_key(pre))


def _pre_key(pre: str | None) -> tuple:
    # A release sorts after every prerelease of the same version.
    if not pre:
        return (1,)
    return (0, *((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")))


def is_compatible(constraint: str, version: str) -> bool:
    parsed = parse_version(version)
    if parsed is None or not constraint.strip():
        return False
    try:
        return any(_check_group(group, parsed) for group in constraint.split("||"))
    except ValueError:
        return False


def _check_group(group: str, version: Version) -> bool:
    hyphen = _HYPHEN.match(group)
    if hyphen:
        parts = [f">={hyphen.group(1)}", f"<={hyphen.group(2)}"]
    else:
        parts = [p for p in re.split(r"[\s,]+", group.strip()) if p]
        parts = _join_operators(parts)
    if not parts:
        raise ValueError("empty constraint")
    has_pre = any("-" in p.lstrip("v<>=!~^") for p in parts)
    if version[3] != (1,) and not has_pre:
        return False
    return all(_check_one(part, version) for part in parts)


def _join_operators(parts: list[str]) -> list[str]:
    # ">= 1.2" arrives as two tokens
    joined: list[str] = []
    for part in parts:
        if joined and re.fullmatch(r"(=|!=|>=|=>|<=|=<|>|<|~>|~|\^)", joined[-1]):
            joined[-1] += part
        else:
            joined.append(part)
    return joined


def _check_one(text: str, version: Version) -> bool:  # noqa: PLR0911
    match = _CONSTRAINT.match(text)
    if match is None:
        raise ValueError(text)
    op, *nums, pre = match.groups()
    op = {"=>": ">=", "=<": "<=", "~>": "~"}.get(op or "=", op or "=")
    wild = [n is None or n in "xX*" for n in nums]
    values = [0 if w else int(n) for n, w in zip(nums, wild, strict=True)]
    base: Version = (*values, _pre_key(pre))  # type: ignore[assignment]
    core = version[:3]
    if op == "=" and any(wild):
        fixed = wild.index(True)
        return core[:fixed] == tuple(values[:fixed])
    if op == "!=" and any(wild):
        fixed = wild.index(True)
        return core[:fixed] != tuple(values[:fixed])
    if op == "~":
        upper = (values[0] + 1, 0, 0) if wild[1] else (values[0], values[1] + 1, 0)
        return base <= version and core < upper
    if op == "^":
        if values[0] > 0 or wild[1]:
            upper = (values[0] + 1, 0, 0)
        elif values[1] > 0 or wild[2]:
            upper = (0, values[1] + 1, 0)
        else:
            upper = (0, 0, values[2] + 1)
        return base <= version and core < upper
    if op in (">", "<=") and any(wild):
        fixed = wild.index(True)
        bumped = [*values[:fixed], 0, 0, 0][:3]
        if fixed:
            bumped[fixed - 1] += 1
        else:
            return op == "<="
        ceiling: Version = (*bumped, (0,))  # type: ignore[assignment]
        return version >= ceiling if op == ">" else version < ceiling
    comparisons = {
        "=": version == base, "!=": version != base, ">": version > base,
        ">=": version >= base, "<": version < base, "<=": version <= base,
    }
    return comparisons[op]
