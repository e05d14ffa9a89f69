"""Values written for Helm to read back: how the differential and engine tests
serialise them for `helm -f`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

# what YAML 1.1 does not allow unescaped in a document (besides tab and newline)
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]"
)


def helm_values_document(values: Mapping) -> str:
    """JSON text for `helm -f` that Helm's YAML reader reads back exactly.

    YAML forbids some characters raw (controls, surrogates) and Helm's reader
    rejects \\u escapes of characters outside the BMP, so: characters beyond
    the BMP are written raw (UTF-8), everything YAML cannot hold raw is escaped.
    """
    return _UNPRINTABLE.sub(
        lambda match: f"\\u{ord(match.group()):04x}",
        json.dumps(values, ensure_ascii=False, allow_nan=False),
    )
