"""Schema regular expressions with Go (RE2) semantics, run by Python's re.

Helm's schema library compiles `pattern` and `patternProperties` with Go's
regexp package. Python's re differs in ways a user can hit: ``$`` also matches
before a trailing newline, ``\\d``/``\\w``/``\\s`` match non-ASCII characters,
and re accepts constructs RE2 refuses (look-around, back-references). We
translate the pattern so Python matches exactly what Go matches, and refuse
what Go refuses.
"""

from __future__ import annotations

import re
from functools import lru_cache


class RegexError(ValueError):
    """The pattern is not a valid Go regular expression."""


_UNSUPPORTED_GROUPS = ("(?=", "(?!", "(?<=", "(?<!", "(?>", "(?#", "(?(")


@lru_cache(maxsize=4096)
def translate(pattern: str) -> str:  # noqa: PLR0912 - one pass over the pattern
    """A Python pattern that matches the same strings as Go's regexp.Compile(pattern)."""
    for group in _UNSUPPORTED_GROUPS:
        if group in pattern.replace("\\\\", ""):
            raise RegexError(f"invalid or unsupported Perl syntax: `{group}`")
    out: list[str] = ["(?a)"]
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 >= len(pattern):
                raise RegexError("trailing backslash at end of expression")
            escaped = pattern[index + 1]
            out.append(_escape(escaped, in_class))
            index += 2
            continue
        if in_class:
            if char == "]" and not _class_start(pattern, index):
                in_class = False
            elif char == "[" and pattern.startswith("[:", index):
                end = pattern.find(":]", index + 2)
                if end != -1:
                    out.append(_posix_class(pattern[index + 2 : end]))
                    index = end + 2
                    continue
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "$":
            out.append(r"\Z")
        else:
            out.append(char)
        index += 1
    translated = "".join(out)
    try:
        re.compile(translated)
    except re.error as error:
        raise RegexError(str(error)) from None
    return translated


def _class_start(pattern: str, index: int) -> bool:
    # "]" right after "[" or "[^" is a literal member, as in RE2
    before = pattern[:index]
    return before.endswith("[") or before.endswith("[^")


def _escape(escaped: str, in_class: bool) -> str:
    if escaped.isdigit() and escaped != "0":
        raise RegexError(f"invalid escape sequence: `\\{escaped}`")
    if escaped == "Z":
        raise RegexError("invalid escape sequence: `\\Z`")
    if escaped == "z":
        return "" if in_class else r"\Z"
    if escaped == "s":
        return r"\t\n\f\r " if in_class else r"[\t\n\f\r ]"
    if escaped == "S":
        return r"\S" if in_class else r"[^\t\n\f\r ]"
    if escaped in "pP":
        raise RegexError("unicode classes are not supported here")
    return "\\" + escaped


_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


def _posix_class(name: str) -> str:
    if name not in _POSIX:
        raise RegexError(f"invalid character class range: `[:{name}:]`")
    return _POSIX[name]


def search(pattern: str, text: str) -> bool:
    return re.search(translate(pattern), text) is not None


def is_valid(pattern: str) -> bool:
    try:
        translate(pattern)
    except RegexError:
        return False
    return True


def re_search_translated(translated: str, text: str) -> bool:
    """Search with a pattern that translate() already produced."""
    return re.search(translated, text) is not None
