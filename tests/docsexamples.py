"""The shell examples of README.md and docs/*.md, as data, for the tests that
keep them true: every command a reader may copy, with the output shown for it."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")


@dataclass
class Example:
    doc: str
    line: int
    command: str  # as written, without its trailing comment
    output: list[str] = field(default_factory=list)  # shown below it (console blocks)

    @property
    def argv(self) -> list[str]:
        """The program's arguments, without the shell's redirections (`< file`)."""
        words = shlex.split(self.command)
        kept: list[str] = []
        skip = False
        for word in words:
            if skip:
                skip = False
            elif word in ("<", ">", ">>", "2>"):
                skip = True
            else:
                kept.append(word)
        return kept

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.command}"


def _without_comment(line: str) -> str:
    """The line up to its first ` #` outside quotes, as the shell reads it."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].strip()
    return line.strip()


def examples() -> list[Example]:
    found: list[Example] = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            language, body = match.group(1), match.group(2)
            if language not in SHELL_LANGUAGES:
                continue
            first_line = text[: match.start()].count("\n") + 2
            found += _block(doc.relative_to(ROOT).as_posix(), first_line, body, language)
    return found


def _block(doc: str, first_line: int, body: str, language: str) -> list[Example]:
    found: list[Example] = []
    pending = ""
    for offset, raw in enumerate(body.splitlines()):
        line = raw.rstrip()
        if language == "console":
            if line.startswith("$ "):
                found.append(Example(doc, first_line + offset, _without_comment(line[2:])))
            elif line.lstrip().startswith("#") and line.startswith(" "):
                continue  # a comment continued from the command above
            elif found and line:
                found[-1].output.append(line)
            continue
        command = _without_comment(line)
        if not command:
            continue
        if command.endswith("\\"):
            pending += command[:-1] + " "
            continue
        found.append(Example(doc, first_line + offset, pending + command))
        pending = ""
    return found


def substitutions(command: str) -> list[str]:
    """The commands inside $(...) of a command line."""
    return _SUBSTITUTION.findall(command)
