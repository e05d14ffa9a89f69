"""A schema load_chart refuses is one helm refuses, and the reverse."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lostromos.charts import ChartError, load_chart

SCHEMAS = [
    ({"properties": {"replicas": {"type": "integer", "minimum": "1"}}}, False),
    ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "strung"}, False),
    ({"properties": {"a": {"pattern": "(?=x)y"}}}, False),
    ({"properties": {"a": {"pattern": "a\\Z"}}}, False),
    ({"properties": {"a": {"pattern": "(a)\\1"}}}, False),
    ({"patternProperties": {"(a": {}}}, False),
    ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, False),
    ({"$schema": "http://json-schema.org/draft-07/schema#", "required": "a"}, False),
    ({"properties": {"a": {"pattern": "^[[:alpha:]]+\\z"}}}, True),
    ({"properties": {"a": {"pattern": "(?i)^abc$"}}}, True),
    ({"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "object"}, True),
    ({"$schema": "http://json-schema.org/draft-06/schema", "minimum": 0}, True),
    ({"$defs": {"a": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/a"}}}, True),
    ({"properties": {"a": {"format": "no-such-format"}}}, True),
    (True, True),
]


@pytest.mark.parametrize(("schema", "usable"), SCHEMAS)
def test_schema_refusal_matches_helm(tmp_path: Path, helm_binary: Path, schema, usable) -> None:
    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (chart / "values.schema.json").write_text(json.dumps(schema))
    helm = subprocess.run(
        [str(helm_binary), "template", "x", str(chart)], capture_output=True, text=True, check=False
    )
    assert (helm.returncode == 0) == usable, helm.stderr
    if usable:
        load_chart(chart)
    else:
        with pytest.raises(ChartError):
            load_chart(chart)
