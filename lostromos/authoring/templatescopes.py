"""The `.Values` paths a Helm chart's templates read, with the scopes Go templates have.

A template rarely names every key in full: `{{ with .Values.webhook }}{{ .image.tag }}`
reads `webhook.image.tag`; `{{ $svc := .Values.service }}{{ $svc.port }}` reads
`service.port`; a named template called as `include "chart.image" .Values.webhook`
reads, through its own dot, keys of `webhook`. The scanner follows what text/template
itself does with the dot and with variables:

- `with X` sets the dot to X for its body (not for its `else`); `range X` sets it to an
  element of X (written `*`: which element is not known); `define` starts a body whose
  dot and `$` are what the caller passes;
- `$v := X` and `$v = X` bind a variable for the rest of the enclosing block;
- `index X "k"`, `get X "k"`, `hasKey X "k"` and `dig "k" ... default X` read `X.k`;
- `include`/`template "name" X` passes X (or each entry of `dict "key" X ...`) to the
  named template, whose reads through its dot are then reads of X.

Anything else (a dot the scanner cannot place) reads nothing: a read is only reported
when its path is known.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

ELEMENT = "*"  # an element of a list or a map, in a path: which one is not known
_ACTION = re.compile(r"\{\{-?(.*?)-?\}\}", re.S)
_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"'  # a string
    r"|`[^`]*`"  # a raw string
    r"|:=|=|\||\(|\)|,"
    r"|\$[\w]*(?:\.[A-Za-z_][\w]*)*"  # a variable with its fields
    r"|(?:\.[A-Za-z_][\w]*)+|\."  # a field chain, or the dot
    r"|[^\s|(),=\"`]+"  # a word: function, keyword, number
)
_STRING = re.compile(r'^"(?:[^"\\]|\\.)*"$|^`[^`]*`$')
_OPENERS = {"if", "with", "range", "define", "block"}
_KEY_READERS = {"index", "get", "hasKey"}
_DIG = {"dig"}
_SERIALIZERS = {
    "toYaml",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "toToml",
}
_TEMPLATE_TEXT = {"tpl"}  # its first argument is template text
_HASHES = {"sha256sum", "sha1sum", "sha512sum", "adler32sum"}
# Functions whose parameters are Go strings, by how many numbers come first (`trunc 63
# X`): a value of another type given to them fails the render ("wrong type for value;
# expected string"), so the value is text.
_TAKES_TEXT = {
    **dict.fromkeys(("trunc", "abbrev", "repeat", "wrap", "indent", "nindent"), 1),
    "substr": 2,
    **dict.fromkeys(
        (
            *("trim", "trimAll", "trimPrefix", "trimSuffix", "upper", "lower", "title"),
            *("untitle", "nospace", "snakecase", "camelcase", "kebabcase", "swapcase"),
            *("contains", "hasPrefix", "hasSuffix", "replace", "split", "splitList"),
            *("regexMatch", "regexFind", "regexFindAll", "regexReplaceAll", "regexSplit"),
            *("b64enc", "b64dec", "b32enc", "b32dec", "fromYaml", "fromJson", "semverCompare"),
            *("base", "dir", "ext", "clean", *_HASHES),
        ),
        0,
    ),
}
# Functions that make any value text: an entry's field given to them may be any scalar.
_QUOTES = {"quote": 0, "squote": 0}
# Merges of dicts, by which operand wins: the last (`mergeOverwrite`) or the first (`merge`)
_MERGES = {
    **dict.fromkeys(("mergeOverwrite", "mustMergeOverwrite"), "overwrite"),
    **dict.fromkeys(("merge", "mustMerge"), "keep"),
}
_KEEPS_VALUE = {"default", "required"}  # `X | default D` is X when X is set
_COPIES = {"deepCopy", "mustDeepCopy"}  # `deepCopy X` is X, to change without changing X
_ONE_OF = {"or", "coalesce", "default"}  # their value is one of their operands
_DEEPEST = 16
_FIELDS_OF_PARENS = re.compile(r"\)((?:\.[A-Za-z_]\w*)+)")
_ONE_OPERAND = re.compile(r"\(\s*(\$\w*(?:\.[A-Za-z_]\w*)*|(?:\.[A-Za-z_]\w*)+)\s*\)")


@dataclass(frozen=True)
class Place:
    """What a dot or a variable holds: a path from a base, `root` the chart's own
    context (so `root`, ("Values", "a") is `.Values.a`), `arg:NAME` what a named
    template was passed."""

    base: str
    path: tuple[str, ...] = ()

    def child(self, *keys: str) -> Place:
        return Place(self.base, (*self.path, *keys))


ROOT = Place("root")


@dataclass(frozen=True)
class Call:
    """`include "name" X`: the named template's dot is X (under `key` of a `dict`)."""

    name: str
    key: tuple[str, ...]
    place: Place


@dataclass
class _Frame:
    kind: str
    dot: Place | None
    outer_dot: Place | None
    variables: dict[str, Place | None] = field(default_factory=dict)


@dataclass
class ScopeScan:
    """Every read found, by place, with the first `file:line` it was found at."""

    reads: dict[Place, str] = field(default_factory=dict)
    calls: dict[Call, str] = field(default_factory=dict)
    rendered: dict[Place, str] = field(default_factory=dict)  # serialised whole (toYaml)
    iterated: dict[Place, str] = field(default_factory=dict)  # keys ranged over
    templated: dict[Place, str] = field(default_factory=dict)  # given to `tpl` as its text
    stringified: dict[Place, str] = field(default_factory=dict)  # its text compared with a word
    texts: dict[Place, str] = field(default_factory=dict)  # given to a function taking text
    quoted: dict[Place, str] = field(default_factory=dict)  # an entry's field, quoted
    # defaults the templates merge `.Values` over (`mustMergeOverwrite $defaults .Values`)
    merged_under: dict[Place, str] = field(default_factory=dict)
    # rendered whole as the value of a YAML key (`lifecycle:` then `toYaml .Values.hooks`)
    rendered_under: dict[Place, str] = field(default_factory=dict)
    _key: str | None = field(default=None, init=False)  # where the action read renders
    # a library's places: they count only as what the chart's calls make them
    _library_places: set[Place] = field(default_factory=set, init=False)

    def scan(self, text: str, where: str) -> None:
        """Read one template file; `where` is its path relative to the chart."""
        stack = [_Frame("file", ROOT, ROOT, {"$": ROOT})]
        for match in _ACTION.finditer(text):
            body = match.group(1).strip()
            if body.startswith("/*"):
                continue
            line = text.count("\n", 0, match.start()) + 1
            body = _without_parentheses(body)
            self._key = _key_above(text, match.start())
            self._action(_TOKEN.findall(body), stack, f"{where}:{line}")

    def absorb(self, library: ScopeScan) -> None:
        """Take in a library chart's scan: what its named templates do with what they are
        passed, not what they read of `.Values` themselves (a library serves many charts,
        and its templates this chart never calls read keys this chart does not have)."""
        for found in fields(self):
            theirs = getattr(library, found.name)
            if not isinstance(theirs, dict):
                continue
            ours = getattr(self, found.name)
            for item, where in theirs.items():
                place = item.place if isinstance(item, Call) else item
                if place.base != ROOT.base:
                    ours.setdefault(item, where)
                    self._library_places.add(place)

    def values_reads(self) -> dict[tuple[str, ...], str]:
        """The reads of `.Values`, named templates' reads through their callers included."""
        return {path: where for path, where in self._through_calls(self.reads).items() if path}

    def values_rendered(self) -> dict[tuple[str, ...], str]:
        """The `.Values` objects the templates render whole (`toYaml`), through calls too."""
        return self._through_calls(self.rendered)

    def values_iterated(self) -> dict[tuple[str, ...], str]:
        """The `.Values` objects the templates range over: their keys are data."""
        return self._through_calls(self.iterated)

    def values_templated(self) -> dict[tuple[str, ...], str]:
        """The `.Values` the templates pass to `tpl`: a string there is template text."""
        return self._through_calls(self.templated)

    def values_stringified(self) -> dict[tuple[str, ...], str]:
        """The `.Values` whose text the templates compare with a word (`eq (X | toString) "-"`)."""
        return self._through_calls(self.stringified)

    def values_texts(self) -> dict[tuple[str, ...], str]:
        """The `.Values` the templates give a function that takes text (`trunc 63 X`)."""
        return self._through_calls(self.texts)

    def values_rendered_under(self) -> dict[tuple[str, ...], str]:
        """The `.Values` the templates render whole as the value of a YAML key, by the
        key: {("lifecycleHooks",): "lifecycle"}. Only the chart's own reads (a named
        template's dot may stand for several values)."""
        found: dict[tuple[str, ...], str] = {}
        for place, key in self.rendered_under.items():
            path = values_path(place) if place.base == "root" else None
            if path:
                found.setdefault(path, key)
        return found

    def values_merged_under(self) -> dict[tuple[str, ...], str]:
        """The `.Values` objects the templates merge all of `.Values` over: their keys are
        keys of the values' root."""
        return self._through_calls(self.merged_under)

    def values_quoted(self) -> dict[tuple[str, ...], str]:
        """Fields of list entries the templates quote (`value: {{ .value | quote }}` in a
        `range`), by their path with ELEMENT for the entry: ("env", "*", "value")."""
        return self._through_calls(self.quoted, elements=True)

    def _through_calls(
        self, places: dict[Place, str], *, elements: bool = False
    ) -> dict[tuple[str, ...], str]:
        callers: dict[str, list[tuple[Call, str]]] = {}
        for call, where in self.calls.items():
            callers.setdefault(call.name, []).append((call, where))
        resolved = dict(places)
        pending = list(resolved)
        while pending:
            place = pending.pop()
            if not place.base.startswith("arg:"):
                continue
            for call, where in callers.get(place.base[4:], ()):
                if place.path[: len(call.key)] != call.key:
                    continue
                target = call.place.child(*place.path[len(call.key) :])
                # a template that passes itself a deeper part of its dot would recurse forever
                if target not in resolved and len(target.path) <= _DEEPEST:
                    resolved[target] = where
                    pending.append(target)
        out: dict[tuple[str, ...], str] = {}
        for place, where in resolved.items():
            if place in self._library_places:
                continue  # `.context.Values.x` in a library template no caller reaches
            path = values_path(place, elements=elements)
            if path is not None:
                out.setdefault(path, where)
        return out

    def _action(self, tokens: list[str], stack: list[_Frame], where: str) -> None:
        if not tokens:
            return
        word = tokens[0]
        frame = stack[-1]
        if word == "end":
            if len(stack) > 1:
                stack.pop()
            return
        if word == "else":
            self._else(tokens[1:], stack, where)
            return
        if word in ("define", "block"):
            name = _unquote(tokens[1]) if len(tokens) > 1 else ""
            arg = Place(f"arg:{name}")
            if word == "block":  # a block is a define and a template call in one
                self._operands(tokens[2:], frame, stack, where)
                self._call(name, tokens[2:], stack, where)
            stack.append(_Frame(word, arg, arg, {"$": arg}))
            return
        if word in _OPENERS:
            subject = self._operands(tokens[1:], frame, stack, where)
            dot = frame.dot
            new = _Frame(word, dot, dot)
            self._declare(tokens[1:], new, subject, ranged=word == "range")
            if word == "with":
                new.dot = subject
            elif word == "range":
                new.dot = subject.child(ELEMENT) if subject else None
                if subject is not None:
                    self.iterated.setdefault(subject, where)
            stack.append(new)
            return
        subject = self._operands(tokens, frame, stack, where)
        self._declare(tokens, frame, subject, ranged=False)

    def _else(self, tokens: list[str], stack: list[_Frame], where: str) -> None:
        frame = stack[-1]
        frame.dot = frame.outer_dot
        if tokens and tokens[0] in ("if", "with"):
            outer = _Frame("else", frame.outer_dot, frame.outer_dot, {})
            subject = self._operands(tokens[1:], outer, stack, where)
            if tokens[0] == "with":
                frame.dot = subject
                self._declare(tokens[1:], frame, subject, ranged=False)

    def _declare(self, tokens: list[str], frame: _Frame, subject: Place | None, *, ranged: bool):
        """`$v := X` (`range $k, $v := X`: $v an element) binds in `frame`."""
        for op in (":=", "="):
            if op in tokens:
                names = [t for t in tokens[: tokens.index(op)] if t.startswith("$")]
                if not names:
                    return
                if ranged:
                    element = subject.child(ELEMENT) if subject else None
                    frame.variables[names[-1]] = element
                    if len(names) > 1:
                        frame.variables[names[0]] = None  # the key or index
                else:
                    frame.variables[names[0]] = subject
                return

    def _operands(
        self, tokens: list[str], frame: _Frame, stack: list[_Frame], where: str
    ) -> Place | None:
        """Record every read in a pipeline; return what the pipeline's value is, when
        it is one operand (`.Values.a`, `$v.b`, `index .Values "a"`)."""
        if ":=" in tokens or "=" in tokens:
            op = ":=" if ":=" in tokens else "="
            tokens = tokens[tokens.index(op) + 1 :]
        places: list[Place | None] = []
        for position, token in enumerate(tokens):
            place = _resolve(token, frame, stack)
            places.append(place)
            if place is not None:
                self._read(place, where)
            if token in _KEY_READERS:
                keyed = self._keyed(tokens[position + 1 :], frame, stack)
                if keyed is not None:
                    self._read(keyed, where)
            elif token in _DIG:
                dug = _dig(tokens[position + 1 :], frame, stack)
                if dug is not None:
                    self._read(dug, where)
            elif token in ("include", "template") and position + 1 < len(tokens):
                self._call(_unquote(tokens[position + 1]), tokens[position + 2 :], stack, where)

        subject = self._subject_in(frame, stack, where)
        arguments = _argument_values(tokens, places, subject)
        self._merged_under_values(tokens, arguments, where)
        self._rendered_whole(tokens, arguments, where)
        self._as_text(tokens, arguments, where)
        # `trunc 63 X`, `X | default "" | trunc 63`: X must be text (or the render fails).
        # A part of a list's element (`lower $item.name`) says nothing of the list.
        for place in _given_to(tokens, places, subject, _TAKES_TEXT):
            if ELEMENT not in place.path:
                self.texts.setdefault(place, where)
        for place in _given_to(tokens, places, subject, _QUOTES):
            if ELEMENT in place.path:
                self.quoted.setdefault(place, where)
        return subject(tokens, places)

    def _merged_under_values(
        self, tokens: list[str], places: list[Place | None], where: str
    ) -> None:
        """`mustMergeOverwrite D .Values` (the last wins) and `merge .Values D` (the first
        wins): the chart's values over defaults D it keeps under a key of its own (istio's
        `_internal_defaults_do_not_set`), so D's keys are keys of `.Values` itself."""
        for position, token in enumerate(tokens):
            family = _MERGES.get(token)
            if family is None:
                continue
            end = _command_end(tokens, position + 1)
            merged = _operand_places(tokens[position + 1 : end], places[position + 1 : end])
            if len(merged) < 2:
                continue
            winner = merged[-1] if family == "overwrite" else merged[0]
            if winner is None or values_path(winner) != ():
                continue
            for place in merged[:-1] if family == "overwrite" else merged[1:]:
                if place is not None and values_path(place):
                    self.merged_under.setdefault(place, where)

    def _rendered_whole(self, tokens: list[str], places: list[Place | None], where: str) -> None:
        """`toYaml X` and `X | toYaml` put all of X in the output: its keys are the user's,
        not the chart's. A checksum (`toYaml X | sha256sum`) puts nothing of X there.
        `places` holds, for an operand in parentheses, the place its value is."""
        if any(token in _HASHES for token in tokens):
            return
        found = [
            places[position + 1]
            for position, token in enumerate(tokens[:-1])
            if token in _SERIALIZERS
        ]
        # `X | toYaml`, as the pipeline or in parentheses: `(.value | toYaml)`
        found += [
            places[position - 1]
            for position in range(1, len(tokens) - 1)
            if tokens[position] == "|" and tokens[position + 1] in _SERIALIZERS
            if position == 1 or tokens[position - 2] == "("
        ]
        for place in found:
            if place is not None:
                self.rendered.setdefault(place, where)
                if self._key and ELEMENT not in place.path:
                    self.rendered_under.setdefault(place, self._key)

    def _as_text(self, tokens: list[str], places: list[Place | None], where: str) -> None:
        """`tpl X .`: X may be template text. Only X itself: a part of a list's element
        (`tpl $item.url $`) says nothing about the list. `eq (X | toString) "-"`: X's text
        is compared with a word that no boolean or number spells, so strings are among
        X's designed values (vault's `enabled: "-"`, "as global.enabled says")."""
        for position, token in enumerate(tokens[:-1]):
            argument = places[position + 1]
            if token in _TEMPLATE_TEXT and argument is not None and ELEMENT not in argument.path:
                self.templated.setdefault(argument, where)
        for position, place in enumerate(places):
            word = _compared_word(tokens, position)
            if place is not None and word is not None and not _SCALAR_SPELLING.fullmatch(word):
                self.stringified.setdefault(place, where)

    def _subject_in(self, frame: _Frame, stack: list[_Frame], where: str) -> Subject:
        """`_subject` in this frame, for the helpers that find each operand's value."""
        return lambda part, part_places: self._subject(part, part_places, frame, stack, where)

    def _subject(
        self,
        tokens: list[str],
        places: list[Place | None],
        frame: _Frame,
        stack: list[_Frame],
        where: str,
    ) -> Place | None:
        """The place a pipeline's value is: one operand, `index X "k"`, one of several
        (`or A B`, `coalesce A B`, `default A B`), or one of these piped into `default
        D`/`required "msg"` (`.Values.a | default dict`; `.Values.a | default .Values.b`
        is one of the two); a copy (`deepCopy .Values.config`) is what it copies."""
        if tokens[:1] == ["("] and _argument(tokens) == tokens[1:-1]:
            inner = tokens[1:-1]  # `with (index .Values "a")`: the parentheses say nothing
            return self._subject(inner, places[1:-1], frame, stack, where)
        piped = _piped_commands(tokens)
        first = piped[0] - 1 if piped else len(tokens)  # where the first command ends
        last = piped[-1] if piped else 0  # the last command: `... | ternary A B`, or the only one
        if tokens[last : last + 1] == ["ternary"] and _command_end(tokens, last) == len(tokens):
            # `ternary A B COND`, `COND | ternary A B`: A or B
            start = last + 1
            subject = self._subject_in(frame, stack, where)
            values = _argument_values(tokens[start:], places[start:], subject)
            choices = _operand_places(tokens[start:], values)[:2]
            return self._one_of([choice for choice in choices if choice is not None], where)
        if any(tokens[i] not in _KEEPS_VALUE | _COPIES for i in piped):
            return None
        head = tokens[:first]
        value = None
        if len(head) == 1:
            value = places[0]
        elif len(head) == 2 and head[0] in _COPIES:
            value = places[1]
        elif head[:1] == ["index"]:
            value = self._keyed(head[1:], frame, stack)
        elif head[:1] and head[0] in _ONE_OF:
            value = self._one_of(_top_level(head[1:], places[1:first]), where)
        # `| default D`: D where the value is empty, when D is one operand
        fallbacks = [
            fallback
            for i in piped
            if tokens[i] == "default" and _command_end(tokens, i) == i + 2
            if (fallback := places[i + 1]) is not None
        ]
        if value is None or not fallbacks:
            return value
        return self._one_of([value, *fallbacks], where)

    def _one_of(self, choices: list[Place], where: str) -> Place | None:
        """A value that is one of several places (`$v := or .Values.a.x .Values.x`): a
        place of its own, which the scanner treats as a named template's dot called once
        with each choice, so that what is done with it is done with each of them."""
        if len(choices) <= 1:
            return choices[0] if choices else None
        name = f"one of at {where}:{len(self.calls)}"
        for choice in choices:
            self.calls.setdefault(Call(name, (), choice), where)
        return Place(f"arg:{name}")

    def _keyed(self, tokens: list[str], frame: _Frame, stack: list[_Frame]) -> Place | None:
        if not tokens:
            return None
        base = _resolve(tokens[0], frame, stack)
        keys = []
        for token in tokens[1:]:
            if not _STRING.match(token):
                break
            keys.append(_unquote(token))
        return base.child(*keys) if base is not None and keys else None

    def _call(self, name: str, args: list[str], stack: list[_Frame], where: str) -> None:
        frame = stack[-1]
        args = _argument(args)
        if len(args) == 1:
            place = _resolve(args[0], frame, stack)
            if place is not None:
                self.calls.setdefault(Call(name, (), place), where)
        elif args and args[0] == "dict":
            spans = _operand_spans(args[1:])
            for (key, _), (start, end) in zip(spans[::2], spans[1::2], strict=False):
                if not _STRING.match(args[1 + key]):
                    continue
                label: tuple[str, ...] = (_unquote(args[1 + key]),)
                value = args[1 + start : 1 + end]
                if value[:2] == ["(", "list"]:  # `(list .Values.a .Values.b)`: elements
                    label += (ELEMENT,)
                    passed = [_resolve(o, frame, stack) for o in _single_operands(value[2:-1])]
                else:
                    passed = [_resolve(value[0], frame, stack)] if len(value) == 1 else []
                for place in passed:
                    if place is not None:
                        self.calls.setdefault(Call(name, label, place), where)

    def _read(self, place: Place, where: str) -> None:
        self.reads.setdefault(place, where)


# `(X | toString)` and `(toString X)`, X where "@" stands
_TEXT_OF = (("(", "@", "|", "toString", ")"), ("(", "toString", "@", ")"))
_COMPARISONS = {"eq", "ne"}
_SCALAR_SPELLING = re.compile(r"true|false|<nil>|[-+]?\d+(\.\d+)?([eE][-+]?\d+)?")


def _compared_word(tokens: list[str], position: int) -> str | None:
    """The word `tokens[position]` is compared with as text, `eq (X | toString) "w"` or
    `eq (toString X) "w"` (`ne` too, the word first or last); None otherwise."""
    for shape in _TEXT_OF:
        start = position - shape.index("@")
        end = start + len(shape)
        if start < 1 or end > len(tokens):
            continue
        if (*tokens[start:position], "@", *tokens[position + 1 : end]) != shape:
            continue
        if tokens[start - 1] in _COMPARISONS and end < len(tokens) and _STRING.match(tokens[end]):
            return _unquote(tokens[end])
        if start >= 2 and tokens[start - 2] in _COMPARISONS and _STRING.match(tokens[start - 1]):
            return _unquote(tokens[start - 1])
    return None


def values_path(place: Place, *, elements: bool = False) -> tuple[str, ...] | None:
    """The `.Values` path a place is, cut at the first unknown element (kept as ELEMENT
    with `elements`): () for `.Values` itself, None for a place that is not in the values
    (or an unknown one of them).

    A chain that names `Values` anywhere (`$.Values.a`, `.root.Values.a`,
    `$ctx.Values.a`) is the chart's values: charts pass their root context under
    such names."""
    path = place.path
    if "Values" not in path:
        return None
    if place.base != "root" and path[0] != "Values" and "Values" not in path[1:]:
        return None
    rest = path[path.index("Values") + 1 :]
    if ELEMENT in rest and not elements:
        rest = rest[: rest.index(ELEMENT)]
        return rest or None
    return rest


def _argument(tokens: list[str]) -> list[str]:
    """The tokens of the first argument after a template's name: one operand, or a
    parenthesised call such as `(dict "root" $ "values" .Values.a)`."""
    if not tokens:
        return []
    if tokens[0] != "(":
        return tokens[:1]
    depth = 0
    for end, part in enumerate(tokens):
        depth += part == "("
        depth -= part == ")"
        if depth == 0:
            return tokens[1:end]
    return tokens[1:]


# What a pipeline (its tokens and their places) gives: the place its value is, if one.
Subject = Callable[[list[str], list[Place | None]], Place | None]


def _argument_values(
    tokens: list[str], places: list[Place | None], subject: Subject
) -> list[Place | None]:
    """Each operand's place, and for a pipeline in parentheses (`tpl (.Values.a |
    default .Values.b) .`) the place its value is, at its `(`."""
    found = list(places)
    for position, part in enumerate(tokens):
        if part == "(":
            end = position + len(_argument(tokens[position:])) + 2
            found[position] = subject(tokens[position:end], places[position:end])
    return found


def _given_to(
    tokens: list[str], places: list[Place | None], subject: Subject, functions: dict[str, int]
) -> list[Place]:
    """The places a pipeline gives one of `functions` as an argument (`trunc 63 X`) or
    as its first command's value, piped (`X | default "" | trunc 63`)."""
    given = _text_arguments(tokens, places, functions)
    head = _command_end(tokens, 0)
    if _piped_into_text(tokens[head:], functions):
        value = subject(tokens[:head], places[:head])
        given += [value] if value is not None else []
    return given


def _text_arguments(
    tokens: list[str], places: list[Place | None], functions: dict[str, int]
) -> list[Place]:
    """The places given as text arguments to one of `functions` (`trunc 63 X`), each
    function named with how many numbers come before its text."""
    given: list[Place] = []
    for position, token in enumerate(tokens):
        numbers = functions.get(token)
        if numbers is not None:
            end = _command_end(tokens, position)
            start = position + 1 + numbers
            given += _top_level(tokens[start:end], places[start:end])
    return given


def _piped_into_text(stages: list[str], functions: dict[str, int]) -> bool:
    """Whether a command's value, piped on (`| default "" | trunc 63`), reaches one of
    `functions` before anything else changes it; pipelines in parentheses left out."""
    for start in _piped_commands(stages):
        if stages[start] not in _KEEPS_VALUE:
            return stages[start] in functions
    return False


def _operand_spans(tokens: list[str]) -> list[tuple[int, int]]:
    """Where each operand of a command starts and ends: one token, or a parenthesised
    pipeline."""
    spans = []
    position = 0
    while position < len(tokens) and tokens[position] not in ("|", ")"):
        end = position + (len(_argument(tokens[position:])) + 2 if tokens[position] == "(" else 1)
        spans.append((position, end))
        position = end
    return spans


def _operand_places(tokens: list[str], values: list[Place | None]) -> list[Place | None]:
    """The place of each operand of a command, from `_argument_values`' places (a
    parenthesised pipeline's value is at its `(`)."""
    return [values[start] for start, _ in _operand_spans(tokens)]


def _piped_commands(tokens: list[str]) -> list[int]:
    """Where each command piped into starts (`X | default D | toYaml`: at `default` and at
    `toYaml`); pipes inside parentheses are another pipeline's."""
    starts = []
    end = _command_end(tokens, 0)
    while end < len(tokens) - 1 and tokens[end] == "|":
        starts.append(end + 1)
        end = _command_end(tokens, end + 1)
    return starts


def _single_operands(tokens: list[str]) -> list[str]:
    """A command's operands that are one token each (parenthesised ones left out)."""
    return [tokens[start] for start, end in _operand_spans(tokens) if end - start == 1]


def _command_end(tokens: list[str], start: int) -> int:
    """Where the command starting at `start` ends: the next `|` or `)` outside parentheses."""
    depth = 0
    for position in range(start, len(tokens)):
        depth += tokens[position] == "("
        if tokens[position] == ")":
            if depth == 0:
                return position
            depth -= 1
        elif tokens[position] == "|" and depth == 0:
            return position
    return len(tokens)


_KEY_LINE = re.compile(r"^\s*(?:-\s+)?([A-Za-z][\w-]*):\s*$")


def _key_above(text: str, start: int) -> str | None:
    """The YAML key an action's output is the value of: `lifecycle: {{ toYaml ... }}` on
    its line, or `lifecycle:` alone on the line above (lines of actions only, such as
    `{{- with .Values.hooks }}`, passed over). None when the action follows other text."""
    begin = text.rfind("\n", 0, start) + 1
    line = text[begin:start]
    if not line.strip():  # the action starts its line: look above
        line = ""
        while begin > 0:
            end = begin - 1  # the newline that ends the line above
            begin = text.rfind("\n", 0, end) + 1
            line = text[begin:end]
            if not line.strip() or _ACTION.sub("", line).strip():
                break  # a blank line, or one with text besides actions
    match = _KEY_LINE.match(line)
    return match.group(1) if match else None


def _without_parentheses(body: str) -> str:
    """An action with `(X).field` read as X.field where X is one operand
    (`((.Values.webhook)).objectSelector` is `.Values.webhook.objectSelector`); a field of
    any other pipeline's value (`(index .Values .mode).config`) is not of the dot."""
    while True:
        unwrapped = _ONE_OPERAND.sub(r"\1", body)
        if unwrapped == body:
            return _FIELDS_OF_PARENS.sub(")", body)
        body = unwrapped


def _top_level(tokens: list[str], places: list[Place | None]) -> list[Place]:
    """The places among a command's arguments, those inside parentheses left out (they
    are arguments of another call)."""
    depth = 0
    found = []
    for part, place in zip(tokens, places, strict=True):
        depth += part == "("
        depth -= part == ")"
        if depth == 0 and place is not None:
            found.append(place)
    return found


def _dig(tokens: list[str], frame: _Frame, stack: list[_Frame]) -> Place | None:
    """`dig "a" "b" default DICT` reads DICT.a.b."""
    operands: list[str] = []
    for token in tokens:
        if token in ("|", ")"):
            break
        operands.append(token)
    if len(operands) < 3:
        return None
    base = _resolve(operands[-1], frame, stack)
    keys = operands[:-2]
    if base is None or not all(_STRING.match(k) for k in keys):
        return None
    return base.child(*(_unquote(k) for k in keys))


def _resolve(operand: str, frame: _Frame, stack: list[_Frame]) -> Place | None:
    """What an operand names, when it names a place the scanner knows."""
    if operand.startswith("$"):
        return _variable(operand, stack)
    if not operand.startswith("."):
        return None
    fields = tuple(operand[1:].split(".")) if operand != "." else ()
    if fields[:1] == ("Values",):
        return ROOT.child(*fields)  # `.Values` means the chart's values, as authors mean it
    return frame.dot.child(*fields) if frame.dot is not None else None


def _variable(operand: str, stack: list[_Frame]) -> Place | None:
    name, *fields = operand.split(".")
    bound = next((s.variables[name] for s in reversed(stack) if name in s.variables), None)
    if bound is not None:
        return bound.child(*fields)
    # an unknown variable holding the root context, as `$root.Values.a`
    return ROOT.child(*fields) if "Values" in fields else None


def _unquote(token: str) -> str:
    if _STRING.match(token):
        return token[1:-1]
    return token


def scan_templates(files: list[tuple[str, str]]) -> dict[tuple[str, ...], str]:
    """`.Values` paths read by these (relative path, text) template files."""
    return scanned(files).values_reads()


def scanned(files: list[tuple[str, str]]) -> ScopeScan:
    scanner = ScopeScan()
    for where, text in files:
        scanner.scan(text, where)
    return scanner


def read_files(templates: Path, chart_dir: Path, suffixes: tuple[str, ...]) -> list:
    files = []
    for file in sorted(templates.rglob("*")):
        if not file.is_file() or file.suffix not in suffixes:
            continue
        try:
            files.append((file.relative_to(chart_dir).as_posix(), file.read_text("utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return files
