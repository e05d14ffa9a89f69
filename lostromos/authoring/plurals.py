"""The plural of a CamelCase kind, for a CRD's `names.plural`.

English rules on the kind's last word (`DatabaseIndex` -> `databaseindexes`,
`Policy` -> `policies`, `Address` -> `addresses`), a short list of irregular
and uncountable words, and an honest "unsure" (None) where the spelling
cannot be told from the letters alone (`hero` -> heroes but `photo` -> photos):
the caller then asks for `--plural`, because a CRD's plural can never change.
"""

from __future__ import annotations

import re

_IRREGULAR = {
    "person": "people",
    "man": "men",
    "woman": "women",
    "child": "children",
    "mouse": "mice",
    "goose": "geese",
    "foot": "feet",
    "tooth": "teeth",
    "index": "indexes",
    "matrix": "matrices",
    "vertex": "vertices",
    "criterion": "criteria",
    "datum": "data",
    "medium": "media",
    "cactus": "cacti",
    "radius": "radii",
    "quiz": "quizzes",
}
_UNCOUNTABLE = frozenset(
    {
        "data",
        "metadata",
        "info",
        "information",
        "equipment",
        "config",
        "news",
        "series",
        "species",
        "software",
        "hardware",
        "feedback",
        "traffic",
    }
)
# Words in -o and -f(e) are spelt both ways; these are the common ones.
_O_ES = frozenset({"hero", "potato", "tomato", "echo", "veto", "torpedo", "volcano"})
_O_S = frozenset(
    {
        "photo",
        "video",
        "repo",
        "demo",
        "memo",
        "logo",
        "zero",
        "piano",
        "auto",
        "proto",
        "tempo",
        "limo",
        "disco",
        "kilo",
        "ratio",
        "portfolio",
        "scenario",
        "studio",
        "radio",
        "audio",
        "cargo",
    }
)
_F_VES = {
    "leaf": "leaves",
    "shelf": "shelves",
    "wolf": "wolves",
    "half": "halves",
    "knife": "knives",
    "life": "lives",
    "wife": "wives",
    "self": "selves",
    "calf": "calves",
    "loaf": "loaves",
    "thief": "thieves",
}


def last_word(kind: str) -> str:
    """`DatabaseIndex` -> `Index`; `DNSRecord` -> `Record`; `URL` -> `URL`."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", kind)
    return words[-1] if words else kind


def _known(word: str) -> str | None:
    if word in _UNCOUNTABLE:
        return word
    if word in _O_ES:
        return word + "es"
    if word in _O_S:
        return word + "s"
    return _IRREGULAR.get(word) or _F_VES.get(word)


def _by_ending(word: str) -> str | None:
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"[^aeiou]o$", word):
        return None
    if word.endswith(("f", "fe")):
        # Most -f words take -s (roof, chief, cliff); the -ves ones are listed above.
        return word + "s" if word.endswith(("ff", "ief", "oof")) else None
    return word + "s"


def pluralize_word(word: str) -> str | None:
    """The plural of one lowercase English word, or None when unsure."""
    return _known(word) or _by_ending(word)


def plural_of_kind(kind: str) -> str | None:
    """The CRD plural (all lowercase) of a CamelCase kind, or None when unsure."""
    last = last_word(kind)
    head = kind[: len(kind) - len(last)].lower()
    plural = pluralize_word(last.lower())
    return None if plural is None else head + plural
