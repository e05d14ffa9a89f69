"""English plurals for generated CRD names (`crd generate --kind Address`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lostromos.authoring.plurals import last_word, plural_of_kind
from lostromos.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("Site", "sites"),
        ("Address", "addresses"),
        ("Policy", "policies"),
        ("Gateway", "gateways"),
        ("Box", "boxes"),
        ("Batch", "batches"),
        ("Mesh", "meshes"),
        ("Status", "statuses"),
        ("DatabaseIndex", "databaseindexes"),
        ("Person", "people"),
        ("Repo", "repos"),
        ("Hero", "heroes"),
        ("Leaf", "leaves"),
        ("Proof", "proofs"),
        ("DNSRecord", "dnsrecords"),
        ("Metadata", "metadata"),
        ("WordPressSite", "wordpresssites"),
        ("Quiz", "quizzes"),
    ],
)
def test_plurals(kind: str, plural: str) -> None:
    assert plural_of_kind(kind) == plural


@pytest.mark.parametrize("kind", ["Tornado", "Gulf"])
def test_ambiguous_spellings_are_not_guessed(kind: str) -> None:
    assert plural_of_kind(kind) is None


def test_last_word_splits_camel_case_and_acronyms() -> None:
    assert last_word("DNSRecord") == "Record"
    assert last_word("URL") == "URL"
    assert last_word("DatabaseIndex") == "Index"


def _generate(kind: str, *extra: str) -> list[str]:
    return [
        "crd",
        "generate",
        "--chart",
        str(ROOT / "charts" / "site"),
        "--group",
        "a.example.com",
        "--kind",
        kind,
        *extra,
    ]


def test_crd_generate_spells_the_plural(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_generate("Address")) == 0
    crd = yaml.safe_load(capsys.readouterr().out)
    assert crd["spec"]["names"]["plural"] == "addresses"
    assert crd["metadata"]["name"] == "addresses.a.example.com"


def test_an_ambiguous_plural_needs_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_generate("Tornado")) == 2
    assert "pass --plural" in capsys.readouterr().err
    assert main(_generate("Tornado", "--plural", "tornadoes")) == 0
    assert yaml.safe_load(capsys.readouterr().out)["spec"]["names"]["plural"] == "tornadoes"
