"""`schema init` reads the conventions chart authors already write, admits Helm's own root
keys and gives Kubernetes fields the API's types."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from lostromos.authoring.infer import infer_chart_schema

VALUES = """\
# @schema
# type: integer
# minimum: 1
# required: true
# @schema
# -- How many pods run.
replicas: 2
logLevel: info # @schema enum:[debug, info, warn]; type:string
# -- (string) Image tag; the chart's appVersion when empty.
# @default -- the chart's appVersion
tag:
securityContext:
  privileged: false
strategy:
  type: RollingUpdate
podDisruptionBudget:
  maxUnavailable: 1
tolerations: []
crds:
  keep: true
"""


def chart(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    (root / "charts" / "redis").mkdir(parents=True, exist_ok=True)
    (root / "charts" / "redis" / "Chart.yaml").write_text(
        "apiVersion: v2\nname: redis\nversion: 1.0.0\n"
    )
    (root / "Chart.yaml").write_text(
        "apiVersion: v2\nname: demo\nversion: 0.1.0\n"
        "dependencies:\n- name: redis\n  version: 1.0.0\n  alias: cache\n"
        "  condition: cache.enabled\n"
    )
    (root / "values.yaml").write_text(VALUES)
    return root


def schema_of(tmp_path: Path) -> dict:
    root = chart(tmp_path)
    schema = infer_chart_schema(root, yaml.safe_load((root / "Chart.yaml").read_text()))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def valid(schema: dict, values: dict) -> bool:
    """As Helm judges it: over the required value values.yaml supplies."""
    return jsonschema.Draft202012Validator(schema).is_valid({"replicas": 2, **values})


def test_helm_schema_blocks_and_one_line_annotations_are_read(tmp_path: Path) -> None:
    schema = schema_of(tmp_path)
    replicas = schema["properties"]["replicas"]
    assert replicas["minimum"] == 1 and replicas["type"] == "integer"
    assert replicas["description"] == "How many pods run."
    assert "replicas" in schema["required"]
    assert schema["properties"]["logLevel"]["enum"] == ["debug", "info", "warn"]
    assert not jsonschema.Draft202012Validator(schema).is_valid({})  # replicas is required
    assert not valid(schema, {"replicas": 0})
    assert not valid(schema, {"logLevel": "trace"})


def test_helm_docs_type_hints_type_empty_values_and_no_markup_is_described(
    tmp_path: Path,
) -> None:
    tag = schema_of(tmp_path)["properties"]["tag"]
    assert tag["type"] == ["string", "null"]
    assert tag["description"] == "Image tag; the chart's appVersion when empty."
    assert "@default" not in json.dumps(schema_of(tmp_path))


def test_helms_root_keys_are_admitted(tmp_path: Path) -> None:
    schema = schema_of(tmp_path)
    assert schema["additionalProperties"] is False
    user = {
        "global": {"imageRegistry": "registry.example.com"},
        "cache": {"enabled": True, "global": {}, "anything": 1},
        "enabled": True,
    }
    assert valid(schema, user)
    assert not valid(schema, {"replicaz": 2})


def test_an_apiversion_v1_charts_requirements_give_its_root_keys(tmp_path: Path) -> None:
    """A v1 chart lists its dependencies in requirements.yaml (datadog's chart does)."""
    root = chart(tmp_path)
    (root / "Chart.yaml").write_text("apiVersion: v1\nname: demo\nversion: 0.1.0\n")
    (root / "requirements.yaml").write_text(
        "dependencies:\n- name: redis\n  version: 1.0.0\n  alias: cache\n"
        "  condition: cache.enabled,metrics.on\n"
    )
    schema = infer_chart_schema(root, yaml.safe_load((root / "Chart.yaml").read_text()))
    assert valid(schema, {"cache": {"enabled": False, "anything": 1}, "metrics": {"on": True}})
    assert not valid(schema, {"redis": {}})


def test_kubernetes_fields_get_the_apis_types(tmp_path: Path) -> None:
    schema = schema_of(tmp_path)
    assert valid(schema, {"securityContext": {"runAsUser": 1000, "fsGroup": 2000}})
    assert not valid(schema, {"securityContext": {"runAsUser": "root"}})
    assert valid(
        schema, {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}
    )
    assert valid(schema, {"podDisruptionBudget": {"maxUnavailable": "25%"}})
    assert valid(schema, {"tolerations": [{"key": "a", "operator": "Exists"}]})
    assert not valid(schema, {"tolerations": [{"key": "a", "operater": "Exists"}]})
    assert "io.k8s.api.core.v1.Toleration" in schema["$defs"]


def schema_for(tmp_path: Path, values: str) -> dict:
    root = tmp_path / "one"
    root.mkdir()
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: one\nversion: 0.1.0\n")
    (root / "values.yaml").write_text(values)
    schema = infer_chart_schema(root, {"name": "one"})
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_a_helm_schema_block_may_be_marked_with_trailing_punctuation(tmp_path: Path) -> None:
    """helm-schema toggles a block at every line that starts with `# @schema`."""
    schema = schema_for(
        tmp_path, '# -- Mode.\n# @schema@\n# type: [string, boolean]\n# @schema@\nmode: "false"\n'
    )
    mode = schema["properties"]["mode"]
    assert mode["type"] == ["string", "boolean"]
    assert "@" not in mode and mode["description"] == "Mode."
    assert jsonschema.Draft202012Validator(schema).is_valid({"mode": True})


def test_a_helm_docs_description_runs_down_to_its_key(tmp_path: Path) -> None:
    """`# ref: https://...` inside a `# --` description is prose: not a commented-out key
    that steals the description and the annotations above it."""
    values = (
        "service:\n"
        "  # @schema\n"
        "  # type: [null, boolean]\n"
        "  # @schema\n"
        "  # -- Allocate node ports.\n"
        "  # ref: https://kubernetes.io/docs/concepts/services-networking/service/\n"
        "  allocate: ~\n"
        "  # a commented-out key away from any description stays one\n"
        "  # port: 80\n"
        "\n"
        "  type: ClusterIP\n"
    )
    service = schema_for(tmp_path, values)["properties"]["service"]
    assert "ref" not in service["properties"]
    assert service["properties"]["port"]["type"] == "integer"
    allocate = service["properties"]["allocate"]
    assert allocate["type"] == ["null", "boolean"]
    assert allocate["description"].startswith("Allocate node ports. ref: https://")


def test_the_authors_type_replaces_a_kubernetes_type_guessed_from_the_name(
    tmp_path: Path,
) -> None:
    values = "# @schema type: [null, boolean]\nallocateNodePorts: ~\nextraPorts: ~\n"
    schema = schema_for(tmp_path, values)
    assert schema["properties"]["allocateNodePorts"] == {"type": ["null", "boolean"]}
    assert "items" in schema["properties"]["extraPorts"]  # no type given: the name decides
    assert jsonschema.Draft202012Validator(schema).is_valid({"allocateNodePorts": True})


def test_the_conventions_example_in_the_chart_authors_guide_gives_what_it_says(
    tmp_path: Path,
) -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "chart-authors.md").read_text()
    section = guide.split("### The comment conventions it reads", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    schema = schema_for(tmp_path, example)
    properties = schema["properties"]
    assert properties["replicas"]["type"] == "integer" and properties["replicas"]["minimum"] == 1
    assert properties["replicas"]["description"] == "How many pods run."
    assert schema["required"] == ["replicas"]
    assert properties["logLevel"]["enum"] == ["debug", "info", "warn"]
    assert properties["tag"]["type"] == ["string", "null"]
    assert properties["tag"]["description"] == "Image tag; the chart's appVersion when empty."
    assert properties["replicaCount"]["type"] == ["number", "string", "null"]
    assert properties["architectures"]["items"] == {"enum": ["amd64", "arm64"]}
    assert properties["priorityClassName"]["type"] == ["string", "null"]
    assert valid(schema, {"livenessProbe": {"timeoutSeconds": 2}})
    assert not valid(schema, {"livenessProbe": {"periodSecond": 2}})


def test_the_authors_other_values_files_add_their_keys(tmp_path: Path) -> None:
    """helm-values-schema-json's `.schema.yaml` names the values files its schema is made
    from; chart-testing installs each `ci/*-values.yaml`; `values-*.yaml` are variants the
    author ships. A key only they show is an optional property typed from their example;
    where values.yaml shows a key, its type stands."""
    root = chart(tmp_path)
    (root / "schema").mkdir()
    (root / "schema" / "values.yaml").write_text(
        "webhook:\n  # -- Requests of the webhook container.\n  requests:\n    cpu: 200m\n"
    )
    (root / "values.yaml").write_text(VALUES + "webhook:\n  image: hook:1\n")
    (root / ".schema.yaml").write_text(
        "values:\n  - schema/values.yaml\n  - values.yaml\n  - ../outside.yaml\n"
        "schemaRoot:\n  title: Demo\n  additionalProperties: false\n"
    )
    (tmp_path / "outside.yaml").write_text("outside: true\n")
    (root / "ci").mkdir()
    (root / "ci" / "tls-values.yaml").write_text("tls:\n  enabled: true\nreplicas: ten\n")
    (root / "ci" / "broken-values.yaml").write_text("broken: [\n")
    (root / "values-production.yaml").write_text("crds:\n  keep: false\n  upgrade: true\n")
    schema = infer_chart_schema(root, yaml.safe_load((root / "Chart.yaml").read_text()))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == "Demo"
    webhook = schema["properties"]["webhook"]["properties"]
    assert webhook["requests"]["description"] == "Requests of the webhook container."
    assert valid(schema, {"webhook": {"requests": {"cpu": "1", "memory": "1Gi"}}})
    assert not valid(schema, {"webhook": {"requests": {"cpu": 1}}})
    assert not valid(schema, {"webhook": {"request": {}}})
    assert valid(schema, {"tls": {"enabled": False}})
    assert valid(schema, {"crds": {"upgrade": False}})
    assert not valid(schema, {"replicas": "ten"})  # values.yaml's type stands
    assert not valid(schema, {"outside": True})  # a file outside the chart is not read
    assert not valid(schema, {"broken": []})


def test_a_schema_config_of_any_shape_adds_nothing_and_never_fails(tmp_path: Path) -> None:
    root = chart(tmp_path)
    for config in ("values: true\n", "values: {a: b}\n", "- a\n", "values: [\n", "\x00"):
        (root / ".schema.yaml").write_text(config)
        schema = infer_chart_schema(root, yaml.safe_load((root / "Chart.yaml").read_text()))
        assert not valid(schema, {"a": 1})


def test_an_authors_open_root_stays_open(tmp_path: Path) -> None:
    """`schemaRoot: {additionalProperties: true}` in `.schema.yaml`: the author keeps the
    root open, so keys values.yaml does not show are theirs to admit; inside it, objects
    values.yaml shows stay closed."""
    root = chart(tmp_path)
    (root / ".schema.yaml").write_text("schemaRoot:\n  additionalProperties: true\n")
    schema = infer_chart_schema(root, yaml.safe_load((root / "Chart.yaml").read_text()))
    assert valid(schema, {"someKeyOfTheirs": 1})
    assert not valid(schema, {"crds": {"kep": True}})


def test_required_inside_a_helm_schema_block_is_not_a_boolean_in_the_schema(
    tmp_path: Path,
) -> None:
    """nginx-gateway-fabric types a list's items in a `# @schema` block and marks their
    properties `required: true`; JSON Schema's `required` lists keys, so a boolean there
    made a schema no validator (nor Helm) loads. helm-schema drops it inside a block; a
    list of keys on the annotated key itself is kept."""
    root = chart(tmp_path)
    (root / "values.yaml").write_text(
        VALUES + "# @schema\n# type: array\n# items:\n#   type: object\n#   properties:\n"
        "#     port:\n#       type: integer\n#       required: true\n# @schema\n"
        "nodePorts: []\n"
        "# @schema\n# required: [host]\n# @schema\n"
        "endpoint:\n  host: db\n  port: 5432\n"
    )
    schema = infer_chart_schema(root, yaml.safe_load((root / "Chart.yaml").read_text()))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert valid(schema, {"nodePorts": [{"port": 30025}, {}]})
    assert not valid(schema, {"nodePorts": [{"port": "30025"}]})
    assert schema["properties"]["endpoint"]["required"] == ["host"]


BITNAMI_STYLE = """\
##############################
## @section Global parameters
##############################
## @param image.registry [default: REGISTRY_NAME] Redis image registry
## @param image.pullSecrets [array] Secrets to pull the image with
## @skip image.tag
##
image:
  registry: docker.io
  tag: 7.4
  pullSecrets: []
## @param master.affinity Affinity for the master pods
## ref: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/
## NOTE: `master.podAffinityPreset` is ignored when it is set
##
master:
  affinity: {}
  ## Plain prose above a key no param line names
  ##
  count: 1
"""


def test_readme_generator_params_describe_the_key_they_name(tmp_path: Path) -> None:
    """bitnami's readme-generator: `## @param PATH [modifiers] text` describes PATH,
    wherever the line sits (often above the parent object); `##` and banner lines are
    comment markers, not text; `@section`, `@skip` and the modifiers are markup."""
    root = chart(tmp_path)
    (root / "values.yaml").write_text(BITNAMI_STYLE)
    schema = infer_chart_schema(root, yaml.safe_load((root / "Chart.yaml").read_text()))
    image = schema["properties"]["image"]
    assert "description" not in image
    assert image["properties"]["registry"]["description"] == "Redis image registry"
    assert image["properties"]["pullSecrets"]["description"] == "Secrets to pull the image with"
    master = schema["properties"]["master"]["properties"]
    assert master["affinity"]["description"] == "Affinity for the master pods"
    assert master["count"]["description"] == "Plain prose above a key no param line names"
    text = json.dumps(schema)
    assert "@" not in text.replace("$schema", "").replace("$defs", "").replace("$ref", "")
    assert "#" not in text.replace("#/$defs", "")
