"""Schema regular expressions with Go's semantics, run by RE2 in linear time.

Helm's schema library compiles `pattern` and `patternProperties` with Go's
regexp package, which is RE2: no back-references or look-around, ``$`` only at
the end of the text, ASCII ``\\d``/``\\w``/``\\s``, matching in time linear in
the text. Python's backtracking re would both judge some strings differently
and take exponential time on patterns like ``^([a-z.]+)+@`` (a tenant's value
could pin a worker). So patterns run on Google's RE2 (the google-re2 binding),
the engine Go's regexp was modelled on, with Go's few extra refusals added.

jsonschema itself calls ``re.search`` for ``pattern``, ``patternProperties``,
``additionalProperties`` and ``unevaluatedProperties``; use_for_jsonschema()
points those calls at RE2 (see its docstring for why at module level).
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import re2
from jsonschema import _keywords, _legacy_keywords, _utils  # the modules that call re.search


class RegexError(ValueError):
    """The pattern is not a valid Go regular expression."""


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # an invalid pattern is reported to the caller, not to stderr
# Go accepts these; RE2 in C++ accepts \C (any byte), which Go refuses
_GO_REFUSES = re.compile(r"\\C")
_ESCAPED_BACKSLASH = re.compile(r"\\\\")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@lru_cache(maxsize=4096)
def compiled(pattern: str) -> Any:
    """The RE2 program for a Go pattern; RegexError where Go's regexp.Compile fails."""
    if _GO_REFUSES.search(_ESCAPED_BACKSLASH.sub("", pattern)):
        raise RegexError("invalid escape sequence: `\\C`")
    try:
        return re2.compile(_go_text(pattern), _OPTIONS)
    except re2.error as error:
        message = error.args[0] if error.args else error
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise RegexError(str(message)) from None
    except UnicodeEncodeError:
        raise RegexError("invalid UTF-8") from None


def _go_text(text: str) -> str:
    # JSON may carry a lone surrogate ("\ud800"); Go decodes it as U+FFFD, and
    # UTF-8 (what RE2 reads) cannot carry it at all
    return _LONE_SURROGATE.sub("\ufffd", text)


def check(pattern: str) -> str:
    """The pattern itself if Go's regexp compiles it; RegexError otherwise."""
    compiled(pattern)
    return pattern


def search(pattern: str, text: str) -> bool:
    """Go's regexp.MustCompile(pattern).MatchString(text), in time linear in text."""
    return compiled(pattern).search(_utf8(text)) is not None


def matcher(pattern: str) -> Callable[[str], bool]:
    """search() with the pattern bound: compiled once, for a caller that keeps it."""
    program = compiled(pattern)
    return lambda text: program.search(_utf8(text)) is not None


def _utf8(text: str) -> bytes:
    # RE2 reads UTF-8, as Go's regexp reads a string; handing it bytes spares the
    # binding's own encoding and its mapping of byte offsets back to characters
    # (a third of a search), and matches the same texts
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _go_text(text).encode("utf-8")


def is_valid(pattern: str) -> bool:
    try:
        compiled(pattern)
    except RegexError:
        return False
    return True


def _search_for_jsonschema(pattern: str, text: str) -> object | None:
    # jsonschema only tests the result for truth
    return True if search(pattern, text) else None


def use_for_jsonschema() -> None:
    """Make jsonschema's keyword functions search with RE2 instead of Python's re.

    jsonschema's `pattern`, `patternProperties`, `additionalProperties` and
    `unevaluatedProperties` (draft 2019-09 and 2020-12, which walk the whole
    schema) call ``re.search`` through their module's ``re``; the library has no
    hook for a regex engine. Replacing that one name in its three keyword
    modules reaches every such call (overriding the keywords would mean copying
    unevaluatedProperties' schema walk). Every schema lostromos validates holds
    Go patterns, so nothing in the process wants Python's semantics there. Other
    ``re`` functions pass through unchanged.
    """
    for module in (_keywords, _legacy_keywords, _utils):
        if not isinstance(module.re, _Re2Search):
            module.re = _Re2Search()  # type: ignore[attr-defined]


class _Re2Search(types.SimpleNamespace):
    """Python's re, except that search() runs Go patterns on RE2."""

    search = staticmethod(_search_for_jsonschema)

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)
