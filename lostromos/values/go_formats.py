"""`format` checks exactly as Helm's schema library (santhosh-tekuri/jsonschema v6) does them.

Helm asserts `format` only for drafts 4, 6 and 7; for 2019-09 and 2020-12
(the default when a schema has no `$schema`) `format` is an annotation and is
not checked. Each function returns True when the value is acceptable; values
that are not strings always are. Lengths and positions are in UTF-8 bytes,
as in Go.
"""

from __future__ import annotations

import calendar
import ipaddress
import re
from collections.abc import Callable
from urllib.parse import unquote

from lostromos.values import go_regex

_DIGITS = re.compile(rb"^[+-]?[0-9]+$")


def _atoi(text: bytes) -> int | None:
    # strconv.Atoi accepts a sign
    return int(text) if _DIGITS.match(text) else None


def _json_pointer(text: str) -> bool:
    if text == "":
        return True
    if not text.startswith("/"):
        return False
    return all(not re.search(r"~(?![01])", token) for token in text.split("/")[1:])


def _relative_json_pointer(text: str) -> bool:
    match = re.match(r"^[0-9]+", text)
    if match is None:
        return False
    digits = match.group()
    if len(digits) > 1 and digits.startswith("0"):
        return False
    rest = text[len(digits) :]
    return rest == "#" or _json_pointer(rest)


def _uuid(text: str) -> bool:
    groups = text.split("-")
    return len(groups) == 5 and all(
        len(group) == size and re.fullmatch(r"[0-9a-fA-F]*", group)
        for group, size in zip(groups, (8, 4, 4, 4, 12), strict=True)
    )


def _duration(text: str) -> bool:  # noqa: PLR0911 - a port of Go's checks
    if not text.startswith("P"):
        return False
    text = text[1:]
    if text == "":
        return False
    if text.endswith("W"):
        week = text[:-1]
        return week != "" and week.isascii() and week.isdigit()
    all_units = ("YMD", "HMS")
    for index, section in enumerate(text.split("T")):
        part = section
        if index != 0 and part == "":
            return False
        if index >= len(all_units):
            return False
        units = all_units[index]
        while part:
            match = re.match(r"^[0-9]+", part)
            if match is None:
                return False
            part = part[match.end() :]
            if part == "":
                return False
            position = units.find(part[0])
            if position == -1:
                return False
            units = units[position + 1 :]
            part = part[1:]
    return True


def _ipv4(text: str) -> bool:
    groups = text.encode().split(b".")
    if len(groups) != 4:
        return False
    for group in groups:
        if len(group) > 1 and group[:1] == b"0":
            return False
        number = _atoi(group)
        if number is None or not 0 <= number <= 255:
            return False
    return True


def _ipv6(text: str) -> bool:
    if ":" not in text or "%" in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _hostname(text: str) -> bool:
    raw = text.encode().removesuffix(b".")
    if len(raw) > 253:
        return False
    for label in raw.split(b"."):
        if not 1 <= len(label) <= 63:
            return False
        if label.startswith(b"-") or label.endswith(b"-"):
            return False
        if not re.fullmatch(rb"[a-zA-Z0-9-]+", label):
            return False
    return True


def _email(text: str) -> bool:  # noqa: PLR0911 - a port of Go's checks
    raw = text.encode()
    if len(raw) > 254:
        return False
    at = raw.rfind(b"@")
    if at == -1:
        return False
    local, domain = raw[:at], raw[at + 1 :]
    if len(local) > 64:
        return False
    if len(local) > 1 and local.startswith(b'"') and local.endswith(b'"'):
        inner = local[1:-1]
        if b"\\" in inner or b'"' in inner:
            return False
    else:
        if local.startswith(b".") or local.endswith(b".") or b".." in local:
            return False
        if not re.fullmatch(rb"[a-zA-Z0-9.!#$%&'*+\-/=?^_`{|}~]*", local):
            return False
    domain_text = domain.decode()
    if domain_text.startswith("[") and domain_text.endswith("]"):
        inner_text = domain_text[1:-1]
        if inner_text.startswith("IPv6:"):
            return _ipv6(inner_text[5:])
        return _ipv4(inner_text)
    return _hostname(domain_text)


def _date_bytes(raw: bytes) -> bool:
    match = re.fullmatch(rb"([0-9]{4})-([0-9]{2})-([0-9]{2})", raw)
    if match is None:
        return False
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        return False
    return 1 <= day <= calendar.monthrange(year, month)[1] if year > 0 else 1 <= day <= 31


def _date(text: str) -> bool:
    return _date_bytes(text.encode())


def _time_bytes(raw: bytes) -> bool:  # noqa: PLR0911, PLR0912 - a straight port of Go's checks
    if len(raw) < 9 or raw[2:3] != b":" or raw[5:6] != b":":
        return False
    parsed = [_atoi(token) for token in raw[:8].split(b":", 2)]
    parts = [p for p in parsed if p is not None and p >= 0]
    if len(parts) != 3 or len(parsed) != 3:
        return False
    hour, minute, second = parts
    if hour > 23 or minute > 59 or second > 60:
        return False
    rest = raw[8:]
    if rest.startswith(b"."):
        match = re.match(rb"^[0-9]+", rest[1:])
        if match is None:
            return False
        rest = rest[1 + match.end() :]
    if rest not in (b"z", b"Z"):
        if len(rest) != 6:
            return False
        if rest[:1] == b"+":
            sign = -1
        elif rest[:1] == b"-":
            sign = 1
        else:
            return False
        rest = rest[1:]
        if rest[2:3] != b":":
            return False
        parsed = [_atoi(token) for token in rest.split(b":", 1)]
        offset = [o for o in parsed if o is not None and o >= 0]
        if len(offset) != 2 or len(parsed) != 2:
            return False
        zone_hour, zone_minute = offset
        if zone_hour > 23 or zone_minute > 59:
            return False
        minutes = hour * 60 + minute + sign * (zone_hour * 60 + zone_minute)
        if minutes < 0:
            minutes += 24 * 60
        hour, minute = divmod(minutes, 60)
    return not (second >= 60 and (hour != 23 or minute != 59))


def _time(text: str) -> bool:
    return _time_bytes(text.encode())


def _date_time(text: str) -> bool:
    raw = text.encode()
    if len(raw) < 20 or raw[10:11] not in (b"t", b"T"):
        return False
    return _date_bytes(raw[:10]) and _time_bytes(raw[11:])


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST = re.compile(r"[A-Za-z0-9!$&'()*+,;=:\[\]<>\"\-_.~%\x80-\U0010ffff]*")
_USERINFO = re.compile(r"[A-Za-z0-9\-._:~!$&'()*+,;=%@]*")


def _scheme(text: str) -> tuple[str, str] | None:
    """getScheme: (scheme, rest); None when a ':' comes first (missing protocol scheme)."""
    for index, char in enumerate(text):
        if char.isascii() and char.isalpha():
            continue
        if char.isascii() and (char.isdigit() or char in "+-."):
            if index == 0:
                return "", text
            continue
        if char == ":":
            return None if index == 0 else (text[:index], text[index + 1 :])
        return "", text
    return "", text


def _parse_url(text: str) -> tuple[bool, bool]:  # noqa: PLR0911
    """(parses, is absolute) following Go's net/url.Parse."""
    text, _, fragment = text.partition("#")
    if _BAD_ESCAPE.search(fragment):
        return False, False
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return False, False
    split = _scheme(text)
    if split is None:
        return False, False
    scheme, rest = split
    rest = rest.partition("?")[0]
    if scheme and not rest.startswith("/"):
        return True, True  # opaque
    if not scheme and ":" in rest.partition("/")[0]:
        return False, False
    if rest.startswith("//") and not rest.startswith("///"):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        userinfo, at, host = authority.rpartition("@")
        if at and not _USERINFO.fullmatch(userinfo):
            return False, False
        if not _host_ok(host):
            return False, False
    return not _BAD_ESCAPE.search(rest), bool(scheme)


def _host_ok(host: str) -> bool:
    if host.startswith("["):
        end = host.find("]")
        if end == -1:
            return False
        port = host[end + 1 :]
        literal = unquote(host[1:end])
        return (not port or re.fullmatch(r":[0-9]*", port) is not None) and _ipv6(literal)
    colon = host.rfind(":")
    if colon != -1:
        if not re.fullmatch(r"[0-9]*", host[colon + 1 :]):
            return False
        host = host[:colon]
    if ":" in host:
        return False  # an IPv6 address must be in brackets
    # in a host, %-escapes may only encode non-ASCII bytes (or "%25")
    if re.search(r"%(?!25)[0-7]", host):
        return False
    return _HOST.fullmatch(host) is not None and not _BAD_ESCAPE.search(host)


def _uri(text: str) -> bool:
    parses, absolute = _parse_url(text)
    return parses and absolute


def _uri_reference(text: str) -> bool:
    return "\\" not in text and _parse_url(text)[0]


def _uri_template(text: str) -> bool:
    if not _parse_url(text)[0]:
        return False
    depth_ok = True
    want_open = True
    for char in text:
        if char in "{}":
            if (char == "{") != want_open:
                depth_ok = False
                break
            want_open = not want_open
    return depth_ok and want_open


def _period(text: str) -> bool:
    start, slash, end = text.partition("/")
    if not slash:
        return False
    if start.startswith("P"):
        return _duration(start) and _date_time(end)
    if not _date_time(start):
        return False
    return _duration(end) if end.startswith("P") else _date_time(end)


_SEMVER = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def _semver(text: str) -> bool:
    return _SEMVER.match(text) is not None and not text.endswith("\n")


def _regex(text: str) -> bool:
    return go_regex.is_valid(text)


FORMATS: dict[str, Callable[[str], bool]] = {
    "json-pointer": _json_pointer,
    "relative-json-pointer": _relative_json_pointer,
    "uuid": _uuid,
    "duration": _duration,
    "period": _period,
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "hostname": _hostname,
    "email": _email,
    "date": _date,
    "time": _time,
    "date-time": _date_time,
    "uri": _uri,
    "iri": _uri,
    "uri-reference": _uri_reference,
    "iri-reference": _uri_reference,
    "uri-template": _uri_template,
    "semver": _semver,
    "regex": _regex,
}
