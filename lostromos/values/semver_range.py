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
# Masterminds' cvRegex: a version in a constraint, wildcards allowed
_CV = (
    r"v?[0-9xX*]+(?:\.[0-9xX*]+)?(?:\.[0-9xX*]+)?"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
# "A - B" anywhere in a group means ">= A, <= B" (Masterminds' rewriteRange)
_HYPHEN = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")

# major, minor, patch and a sort key for the prerelease
Version = tuple[int, int, int, tuple[object, ...]]


def parse_version(text: str) -> Version | None:
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor or 0), int(patch or 0), _pre_key(pre))


def _pre_key(pre: str | None) -> tuple[object, ...]:
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
    group = _HYPHEN.sub(lambda m: f" >={m.group(1)}, <={m.group(2)} ", group)
    parts = _join_operators([p for p in re.split(r"[\s,]+", group.strip()) if p])
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


def _check_one(text: str, version: Version) -> bool:
    match = _CONSTRAINT.match(text)
    if match is None:
        raise ValueError(text)
    op, *nums, pre = match.groups()
    op = {"=>": ">=", "=<": "<=", "~>": "~"}.get(op or "=", op or "=")
    wild = [n is None or n in "xX*" for n in nums]
    values = [0 if w else int(n) for n, w in zip(nums, wild, strict=True)]
    base: Version = (values[0], values[1], values[2], _pre_key(pre))
    if op == "~":
        return _tilde(values, wild, base, version)
    if op == "^":
        return _caret(values, wild, base, version)
    if any(wild) and op in ("=", "!=", ">", "<="):
        return _open_ended(op, values, wild.index(True), base, version)
    comparisons = {
        "=": version == base,
        "!=": version != base,
        ">": version > base,
        ">=": version >= base,
        "<": version < base,
        "<=": version <= base,
    }
    return comparisons[op]


def _tilde(values: list[int], wild: list[bool], base: Version, version: Version) -> bool:
    first_wild = wild.index(True) if any(wild) else 3
    if values == [0, 0, 0] and first_wild in (0, 3):
        return base <= version  # ~0.0.0 and ~* accept every version (>= 0.0.0)
    upper = (values[0] + 1, 0, 0) if wild[1] else (values[0], values[1] + 1, 0)
    return base <= version and version[:3] < upper


def _caret(values: list[int], wild: list[bool], base: Version, version: Version) -> bool:
    if values[0] > 0 or wild[1]:
        upper = (values[0] + 1, 0, 0)
    elif values[1] > 0 or wild[2]:
        upper = (0, values[1] + 1, 0)
    else:
        upper = (0, 0, values[2] + 1)
    return base <= version and version[:3] < upper


def _open_ended(op: str, values: list[int], fixed: int, base: Version, version: Version) -> bool:
    """=, !=, > and <= against a version with wildcards from part `fixed` on."""
    core = version[:3]
    if op == "=":
        return core[:fixed] == tuple(values[:fixed])
    if op == "!=":
        if core[:fixed] != tuple(values[:fixed]):
            return True
        # "!=4.1-alpha" (patch left open) still tells prereleases apart
        return fixed == 2 and version[3] != base[3]
    if not fixed:
        return op == "<="
    bumped = [*values[:fixed], 0, 0, 0][:3]
    bumped[fixed - 1] += 1
    ceiling: Version = (bumped[0], bumped[1], bumped[2], (0,))
    return version >= ceiling if op == ">" else version < ceiling
