"""The API server's hash (FNV-1a 64), the bucket assignment, the shardSelector text."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from controller.sharding import hashring

# Published FNV-1a 64-bit test vectors (Fowler/Noll/Vo reference test suite).
VECTORS = {
    "": 0xCBF29CE484222325,
    "a": 0xAF63DC4C8601EC8C,
    "b": 0xAF63DF4C8601F1A5,
    "foobar": 0x85944171F73967E8,
}

GO_PROGRAM = """package main

import (
\t"bufio"
\t"fmt"
\t"hash/fnv"
\t"os"
)

// The API server's sharding.HashField: fnv.New64a over the bytes, %016x.
func main() {
\tscanner := bufio.NewScanner(os.Stdin)
\tfor scanner.Scan() {
\t\th := fnv.New64a()
\t\th.Write(scanner.Bytes())
\t\tfmt.Printf("%016x\\n", h.Sum64())
\t}
}
"""


def test_fnv1a_64_matches_the_published_vectors() -> None:
    for text, expected in VECTORS.items():
        assert hashring.fnv1a_64(text.encode()) == expected, text


@pytest.mark.go
def test_fnv1a_64_matches_go_hash_fnv_on_uids(tmp_path: Path) -> None:
    uids = [str(uuid.UUID(int=n * 0x9E3779B97F4A7C15 % (1 << 128))) for n in range(200)]
    program = tmp_path / "main.go"
    program.write_text(GO_PROGRAM)
    result = subprocess.run(
        ["go", "run", str(program)],
        input="\n".join(uids) + "\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={**_go_env(tmp_path)},
    )
    assert result.stdout.split() == [f"{hashring.uid_hash(uid):016x}" for uid in uids]


def _go_env(tmp_path: Path) -> dict[str, str]:
    import os

    return {
        **os.environ,
        "GO111MODULE": "off",
        "GOCACHE": os.environ.get("GOCACHE", str(tmp_path / "gocache")),
    }


def test_buckets_cut_the_space_into_equal_contiguous_ranges() -> None:
    assert hashring.BUCKETS * hashring.BUCKET_WIDTH == 1 << 64
    assert hashring.bucket_of("") == 0xCBF29CE484222325 >> 56


def test_assignment_is_deterministic_and_covers_every_bucket_once() -> None:
    members = ["ctl-b", "ctl-a", "ctl-c"]
    first = hashring.assign(members)
    assert first == hashring.assign(reversed(members))
    owned = [bucket for buckets in first.values() for bucket in buckets]
    assert sorted(owned) == list(range(hashring.BUCKETS))


@pytest.mark.parametrize("count", [2, 3, 5, 8])
def test_shares_stay_close_to_one_nth(count: int) -> None:
    members = [f"lostromos-controller-{n:x}5f9c-{n * 7}" for n in range(count)]
    shares = [len(b) / hashring.BUCKETS for b in hashring.assign(members).values()]
    assert min(shares) > 0.6 / count
    assert max(shares) < 1.4 / count


def test_a_join_moves_only_the_joiners_share_and_a_leave_only_the_leavers() -> None:
    members = [f"replica-{n}" for n in range(4)]
    before = hashring.assign(members)
    joined = hashring.assign([*members, "replica-new"])
    # Only buckets the new member takes change owner.
    assert hashring.moved(before, joined) == len(joined["replica-new"])
    left = hashring.assign(members[1:])
    # Only the leaver's buckets change owner; the rest stay where they were.
    assert hashring.moved(before, left) == len(before["replica-0"])
    for member in members[1:]:
        assert before[member] <= left[member]


def test_ranges_merge_adjacent_buckets() -> None:
    width = hashring.BUCKET_WIDTH
    assert hashring.ranges([3, 1, 2, 7]) == [(width, 4 * width), (7 * width, 8 * width)]
    assert hashring.ranges(range(hashring.BUCKETS)) == [(0, 1 << 64)]


def test_selector_uses_the_servers_syntax_and_bound_widths() -> None:
    assert hashring.selector([0, 255]) == (
        "shardRange(object.metadata.uid, '0x0000000000000000', '0x0100000000000000') || "
        "shardRange(object.metadata.uid, '0xff00000000000000', '0x10000000000000000')"
    )
    assert hashring.selector([]) == ""


def test_selector_bounds_select_what_the_servers_string_comparison_selects() -> None:
    # The server compares '0x' + 16 hex digits with the bounds as strings, shorter first.
    def hex_less(a: str, b: str) -> bool:
        return len(a) < len(b) if len(a) != len(b) else a < b

    buckets = {5, 6, 200}
    bounds = [(f"0x{s:016x}", f"0x{e:016x}") for s, e in hashring.ranges(buckets)]
    for n in range(2000):
        uid = str(uuid.UUID(int=n * 0x9E3779B97F4A7C15 % (1 << 128)))
        digest = f"0x{hashring.uid_hash(uid):016x}"
        server = any(not hex_less(digest, s) and hex_less(digest, e) for s, e in bounds)
        assert server == (hashring.bucket_of(uid) in buckets)


def test_bucket_sets_round_trip_through_the_annotation_text() -> None:
    buckets = frozenset({0, 1, 2, 9, 40, 41, 255})
    assert hashring.encode(buckets) == "0-2,9,40-41,255"
    assert hashring.decode(hashring.encode(buckets)) == buckets
    assert hashring.decode("") == frozenset()
    assert hashring.decode("x,3,900,5-4") == frozenset({3})
