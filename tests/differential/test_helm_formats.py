"""`format` checks (draft-07, where Helm asserts them) agree with helm string by string.

One chart has a property per format; each values file gives every property the
same string, and the set of properties helm refuses must equal ours.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from diff_harness import write_values

from lostromos.charts import load_chart
from lostromos.values.engine import ValuesEngine
from lostromos.values.go_formats import FORMATS

CANDIDATES = [
    "",
    "a",
    "-",
    "P1D",
    "P1W",
    "PT",
    "P1Y2M3DT4H5M6S",
    "P1M1Y",
    "PT1.5S",
    "10.0.0.1",
    "256.0.0.1",
    "01.2.3.4",
    "+1.2.3.4",
    "1.2.3",
    "::1",
    "fe80::1%eth0",
    "::ffff:1.2.3.4",
    "example.com",
    "example.com.",
    "-a.com",
    "a_b.com",
    "a" * 64 + ".com",
    "xn--bcher-kva.ch",
    "user@example.com",
    "a.b@c.d",
    ".a@b.c",
    "a..b@c.d",
    '"quoted"@x.org',
    "a@[1.2.3.4]",
    "a@[IPv6:::1]",
    "no-at",
    "2024-02-29",
    "2023-02-29",
    "2024-1-01",
    "2024-12-31",
    "23:59:60Z",
    "23:59:60+00:00",
    "12:00:00",
    "12:00:00.5-01:30",
    "24:00:00Z",
    "2024-02-29T23:59:60Z",
    "2024-02-29t12:00:00z",
    "2024-02-29 12:00:00Z",
    "123e4567-e89b-12d3-a456-426614174000",
    "123e4567e89b12d3a456426614174000",
    "https://example.com/a?b#c",
    "http://[::1]:80/",
    "http://a b.com/",
    "mailto:x@y",
    "//host/path",
    "rel/path",
    "a:b",
    "%zz",
    "http://x/{a}",
    "http://x/{a",
    "/a/b~0c",
    "/a~2",
    "0/a",
    "1#",
    "01",
    "1.2.3",
    "1.2.3-alpha.1+build.5",
    "01.2.3",
    "1.2.3-01",
    "2024-01-01T00:00:00Z/P1D",
    "P1D/2024-01-01T00:00:00Z",
    "^[a-z]+$",
    "(?=a)",
    "a\\Z",
    "[[:alpha:]]",
    "café",
    "é@x.com",
    "http://::1/",
    "http://a:b:c/",
    "http://[::1",
    "http://user:pa ss@x/",
    "http://x:80a/",
    "http://a%41.com/",
    "http://a%4.com/",
    "x:/a%zz",
    "http://x/a%zz",
    "http://x/?q=%zz",
    "http://x/#%zz",
    "1a:b",
    "a+b:c",
    "http://x:/",
    "http://[fe80::1%25eth0]/",
    "http://é.com/",
    "http://a|b/",
    "http://a b/",
    "http:///a",
]


def test_formats_match_helm(tmp_path: Path, helm_binary: Path) -> None:
    chart = tmp_path / "formats"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: formats\nversion: 0.1.0\n")
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "properties": {name: {"format": name} for name in FORMATS},
    }
    (chart / "values.schema.json").write_text(json.dumps(schema))
    engine = ValuesEngine(load_chart(chart))
    disagreements = []
    for index, candidate in enumerate(CANDIDATES):
        values = dict.fromkeys(FORMATS, candidate)
        write_values(values, tmp_path / f"v{index}.json")
        result = subprocess.run(
            [str(helm_binary), "template", "x", str(chart), "-f", str(tmp_path / f"v{index}.json")],
            capture_output=True,
            text=True,
            check=False,
        )
        theirs = set(re.findall(r"- at '/([^']*)'", result.stderr))
        ours = {str(v.path[0]) for v in engine.validate(values)}
        if ours != theirs:
            disagreements.append(
                f"{candidate!r}: only we refuse {sorted(ours - theirs)}, "
                f"only helm refuses {sorted(theirs - ours)}"
            )
    assert not disagreements, "\n".join(disagreements)
