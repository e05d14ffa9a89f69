"""Which replica owns which objects: the API server's hash, fixed buckets, rendezvous.

The API server's sharded LIST and WATCH (feature gate ShardedListAndWatch)
selects objects by the 64-bit FNV-1a hash of `metadata.uid`, formatted as
`0x` plus 16 lowercase hex digits, against half-open ranges
`shardRange(object.metadata.uid, '0x<start>', '0x<end>')` joined by `||`.
The controller uses exactly that hash, so a client-side filter and the
server's filter select the same objects.

The hash space is cut into BUCKETS equal, contiguous buckets, and each bucket
goes to the live member with the highest rendezvous weight for it (a
blake2b hash of member and bucket: only the object hash must be the
server's). Why not N
contiguous ranges, one per member: every join or leave would shift every
boundary and move up to half of all objects. Rendezvous moves only what must
move (a joiner takes about 1/(N+1) of the buckets, from everyone; a leaver's
buckets spread over the rest), needs no shared state (the member list is the
only input), and the fixed buckets keep the result a short list of hash
ranges the API server can filter on. 256 buckets keep each member's share
within a few percent of 1/N for the ring sizes a controller runs at.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK = (1 << 64) - 1
SPACE = 1 << 64
BUCKETS = 256
BUCKET_WIDTH = SPACE // BUCKETS
SHARD_FIELD = "object.metadata.uid"


def fnv1a_64(data: bytes) -> int:
    """Go's hash/fnv New64a, as the API server's sharding.HashField uses it."""
    value = FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * FNV_PRIME) & MASK
    return value


def uid_hash(uid: str) -> int:
    return fnv1a_64(uid.encode())


def bucket_of(uid: str) -> int:
    return uid_hash(uid) // BUCKET_WIDTH


def _weight(member: str, bucket: int) -> int:
    # A well-mixed hash of the pair: replica names differ in a few trailing
    # characters (pod suffixes, pids), and FNV's weak avalanche would hand
    # one of them nearly every bucket.
    digest = hashlib.blake2b(f"{member}\x00{bucket}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assign(members: Iterable[str]) -> dict[str, frozenset[int]]:
    """Every bucket to its highest-weight member; the same for every caller."""
    return dict(_assign(tuple(sorted(set(members)))))


@functools.lru_cache(maxsize=64)
def _assign(ordered: tuple[str, ...]) -> tuple[tuple[str, frozenset[int]], ...]:
    owned: dict[str, set[int]] = {member: set() for member in ordered}
    if not ordered:
        return ()
    for bucket in range(BUCKETS):
        # Ties (astronomically unlikely) break on the name, so callers still agree.
        winner = max(ordered, key=lambda member: (_weight(member, bucket), member))
        owned[winner].add(bucket)
    return tuple((member, frozenset(buckets)) for member, buckets in owned.items())


def ranges(buckets: Iterable[int]) -> list[tuple[int, int]]:
    """Adjacent buckets merged into half-open hash ranges [start, end)."""
    merged: list[tuple[int, int]] = []
    for bucket in sorted(set(buckets)):
        start, end = bucket * BUCKET_WIDTH, (bucket + 1) * BUCKET_WIDTH
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _hex(value: int) -> str:
    # The server compares bounds as strings of equal length first, so the
    # bounds carry the hash's own width; only 2**64 needs a 17th digit.
    return f"0x{value:016x}"


def selector(buckets: Iterable[int]) -> str:
    """The shardSelector for these buckets ('' for none: the caller must not list)."""
    return " || ".join(
        f"shardRange({SHARD_FIELD}, '{_hex(start)}', '{_hex(end)}')"
        for start, end in ranges(buckets)
    )


def encode(buckets: Iterable[int]) -> str:
    """A bucket set as text for a Lease annotation: '0-11,40,200-255'."""
    parts = []
    for start, end in ranges(buckets):
        first, last = start // BUCKET_WIDTH, end // BUCKET_WIDTH - 1
        parts.append(str(first) if first == last else f"{first}-{last}")
    return ",".join(parts)


def decode(text: str | None) -> frozenset[int]:
    """The inverse of `encode`; anything malformed is ignored, never guessed at."""
    found: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            continue
        found.update(b for b in range(low, high + 1) if 0 <= b < BUCKETS)
    return frozenset(found)


def moved(before: Mapping[str, frozenset[int]], after: Mapping[str, frozenset[int]]) -> int:
    """How many buckets changed owner between two assignments."""

    def owner_map(assignment: Mapping[str, frozenset[int]]) -> dict[int, str]:
        return {bucket: member for member, owned in assignment.items() for bucket in owned}

    first, second = owner_map(before), owner_map(after)
    return sum(1 for bucket in range(BUCKETS) if first.get(bucket) != second.get(bucket))
