"""`schema init` on shapes public charts use: annotations beside a Kubernetes type, lists
whose items differ, values given to `tpl`, tri-state switches. Each schema must accept
the chart's own values.yaml, since Helm validates the defaults on every install."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from lostromos.authoring.infer import infer_chart_schema


def chart_schema(tmp_path: Path, values: str, templates: dict[str, str] | None = None) -> dict:
    root = tmp_path / "chart"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    (root / "values.yaml").write_text(values)
    for name, text in (templates or {}).items():
        (root / "templates" / name).write_text(text)
    schema = infer_chart_schema(root, {"name": "chart"})
    jsonschema.Draft202012Validator.check_schema(schema)
    defaults = yaml.safe_load(values)
    assert jsonschema.Draft202012Validator(schema).is_valid(defaults), "refuses its defaults"
    return schema


def valid(schema: dict, values: dict) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(values)


def test_closing_a_kubernetes_typed_object_keeps_the_types_fields(tmp_path: Path) -> None:
    """`additionalProperties: false` beside a `$ref` would see no properties at all and
    refuse every key, the chart's own defaults included; the Kubernetes type is closed."""
    values = (
        "livenessProbe:  # @schema additionalProperties: false\n"
        "  failureThreshold: 3\n"
        "  periodSeconds: 10\n"
    )
    schema = chart_schema(tmp_path, values)
    assert valid(schema, {"livenessProbe": {"timeoutSeconds": 2, "httpGet": {"port": 80}}})
    assert not valid(schema, {"livenessProbe": {"failureThreshhold": 3}})
    assert not valid(schema, {"livenessProbe": {"periodSeconds": "often"}})


def test_a_key_of_list_items_admits_the_type_each_item_gives_it(tmp_path: Path) -> None:
    """Prometheus relabel rules: `regex: true` in one item, `regex: "(.+)"` in the next."""
    values = (
        "relabelConfigs:\n"
        "  - action: keep\n"
        "    regex: true\n"
        "  - action: replace\n"
        '    regex: "(.+)"\n'
        "    replacement: 1\n"
        "  - replacement: 2.5\n"
    )
    items = chart_schema(tmp_path, values)["properties"]["relabelConfigs"]["items"]
    assert items["properties"]["regex"] == {"type": ["boolean", "string"]}
    assert items["properties"]["replacement"] == {"type": ["number"]}
    assert items["properties"]["action"] == {"type": "string"}


def test_a_value_the_templates_pass_to_tpl_may_be_template_text(tmp_path: Path) -> None:
    """Charts that take `tolerations` or `annotations` "as YAML or as a templated string"
    hand the string to `tpl`; the object form keeps its type."""
    values = "tolerations: []\nannotations: {}\nsecurityContext:\n  runAsUser: 100\nport: 80\n"
    helpers = (
        '{{- define "chart.tolerations" -}}\n'
        '{{- if eq (typeOf .Values.tolerations) "string" }}{{ tpl .Values.tolerations . }}\n'
        "{{- else }}{{ toYaml .Values.tolerations }}{{ end }}\n"
        "{{- end -}}\n"
    )
    pod = (
        'tolerations: {{ include "chart.tolerations" . }}\n'
        "annotations: {{ tpl (toYaml .Values.annotations) . }}{{ tpl .Values.annotations . }}\n"
        "securityContext: {{ tpl (.Values.securityContext | toString) . }}\n"
        "other: {{ tpl .Values.securityContext . }}\n"
        "port: {{ .Values.port }}\n"
    )
    schema = chart_schema(tmp_path, values, {"_helpers.tpl": helpers, "pod.yaml": pod})
    assert valid(schema, {"tolerations": "- key: a\n  operator: Exists\n"})
    assert valid(schema, {"annotations": "team: {{ .Release.Name }}"})
    assert valid(schema, {"securityContext": "runAsUser: 1000"})
    assert valid(schema, {"securityContext": {"runAsGroup": 1000}})
    assert not valid(schema, {"securityContext": {"runAsUser": "root"}})
    assert not valid(schema, {"tolerations": [{"key": "a", "operater": "Exists"}]})
    assert not valid(schema, {"port": "http"})  # read, never given to `tpl`


def test_a_switch_whose_default_is_text_also_takes_true_and_false(tmp_path: Path) -> None:
    values = 'server:\n  enabled: "-"\nui:\n  enabled: false\n'
    schema = chart_schema(tmp_path, values)
    assert valid(schema, {"server": {"enabled": True}})
    assert valid(schema, {"server": {"enabled": "-"}})
    assert not valid(schema, {"server": {"enabled": 1}})
    assert not valid(schema, {"ui": {"enabled": "yes"}})


def test_tpl_on_a_part_of_a_list_element_leaves_the_list_a_list(tmp_path: Path) -> None:
    values = "remoteWrite: []\nextraManifests: []\n"
    template = (
        "{{- range $write := .Values.remoteWrite }}{{ tpl $write.url $ }}{{ end }}\n"
        "{{- range .Values.extraManifests }}{{ tpl . $ }}{{ end }}\n"
    )
    schema = chart_schema(tmp_path, values, {"cm.yaml": template})
    assert not valid(schema, {"remoteWrite": "a,b"})
    assert not valid(schema, {"extraManifests": "a,b"})


def test_new_entries_of_a_map_the_templates_range_over_are_typed_like_its_entries(
    tmp_path: Path,
) -> None:
    values = (
        "ports:\n"
        "  web:\n    port: 8000\n    expose: true\n    http:\n      timeout: 10\n"
        "  metrics:\n    port: 9100\n    expose: false\n    protocol: TCP\n    http: ~\n"
    )
    template = "{{- range $name, $port := .Values.ports }}{{ $name }}: {{ $port.port }}{{ end }}\n"
    schema = chart_schema(tmp_path, values, {"svc.yaml": template})
    new = {"port": 8443, "expose": True, "protocol": "UDP", "tls": {"enabled": True}}
    assert valid(schema, {"ports": {"websecure": new}})
    assert valid(schema, {"ports": {"websecure": {"http": {"timeout": 5, "other": 1}}}})
    assert not valid(schema, {"ports": {"websecure": {"expose": "yes"}}})
    assert not valid(schema, {"ports": {"websecure": {"port": 1.5}}})
    assert not valid(schema, {"ports": {"web": {"expse": True}}})  # a shown entry stays closed


def test_template_text_the_templates_also_render_whole_may_be_given_as_yaml(
    tmp_path: Path,
) -> None:
    values = 'annotations: |\n  team: "{{ .Release.Name }}"\ntolerations: ""\nname: web\n'
    template = (
        '{{- if eq (typeOf .Values.annotations) "string" }}{{ tpl .Values.annotations . }}\n'
        "{{- else }}{{ toYaml .Values.annotations }}{{ end }}\n"
        "{{ tpl .Values.tolerations . }}{{ toYaml .Values.tolerations }}\n"
        "name: {{ tpl .Values.name . }}\n"
    )
    schema = chart_schema(tmp_path, values, {"pod.yaml": template})
    assert valid(schema, {"annotations": {"team": "web"}})
    assert valid(schema, {"tolerations": [{"operator": "Exists"}]})
    assert not valid(schema, {"annotations": 42})
    assert not valid(schema, {"annotations": ["team"]})  # a mapping, by its name
    assert not valid(schema, {"name": {"first": "web"}})  # template text, never YAML


def test_an_empty_value_whose_name_says_what_it_holds_is_typed_by_it(tmp_path: Path) -> None:
    values = "serviceAccount:\n  name:\n  annotations:\n  labels:\n  token:\n"
    schema = chart_schema(tmp_path, values)
    account = {"name": "velero", "annotations": {"a": "b"}, "labels": {"team": "x"}}
    assert valid(schema, {"serviceAccount": account})
    assert valid(schema, {"serviceAccount": {"token": 42}})  # nothing says what it is
    assert not valid(schema, {"serviceAccount": {"name": 42}})
    assert not valid(schema, {"serviceAccount": {"annotations": "text"}})
    assert not valid(schema, {"serviceAccount": {"labels": ["a"]}})


def test_a_switch_the_templates_compare_with_a_word_also_takes_strings(tmp_path: Path) -> None:
    """vault's switches: `false` in values.yaml, and the templates compare their text
    with `"-"` ("as global.enabled says"), so strings are among their values. One only
    compared with `"true"` stays a boolean: `"yes"` there would quietly mean false."""
    values = (
        "csi:\n  enabled: false\nui:\n  enabled: false\nha:\n  enabled: false\nport: 80\n"
        "links: true\n"
    )
    helpers = (
        '{{- define "chart.csi" -}}{{- if or (eq (.Values.csi.enabled | toString) "true")\n'
        '  (and (eq (.Values.csi.enabled | toString) "-") .Values.global.enabled) -}}'
        "on{{- end -}}\n"
        "{{- end -}}\n"
    )
    pod = (
        'csi: {{ include "chart.csi" . }}\n'
        'ui: {{ if ne "-" (toString .Values.ui.enabled) }}{{ .Values.ui.enabled }}{{ end }}\n'
        'ha: {{ if eq (.Values.ha.enabled | toString) "true" }}on{{ end }}\n'
        'port: {{ if eq (.Values.port | toString) "80" }}default{{ end }}\n'
        'links: {{ if eq (.Values.links | toString) "<nil>" }}true{{ end }}\n'
    )
    schema = chart_schema(tmp_path, values, {"_helpers.tpl": helpers, "pod.yaml": pod})
    assert valid(schema, {"csi": {"enabled": "-"}})
    assert valid(schema, {"ui": {"enabled": "-"}})
    assert valid(schema, {"csi": {"enabled": True}})
    assert not valid(schema, {"csi": {"enabled": [1]}})
    assert not valid(schema, {"ha": {"enabled": "yes"}})
    assert not valid(schema, {"port": "http"})  # compared with a number's spelling
    assert not valid(schema, {"links": "yes"})  # compared with the text of nothing set


def test_a_value_read_as_one_of_two_may_be_given_as_yaml_or_template_text(
    tmp_path: Path,
) -> None:
    """vault's webhook selector: `$v := or ((.Values.webhook)).objectSelector
    (.Values.objectSelector)`, rendered with `tpl` when it is text, with `toYaml` when not."""
    values = 'webhook:\n  objectSelector: ""\nobjectSelector: |\n  matchLabels: {a: b}\n'
    helpers = (
        '{{- define "chart.selector" -}}\n'
        "{{- $v := or (((.Values.webhook)).objectSelector) (.Values.objectSelector) -}}\n"
        '{{- if eq (typeOf $v) "string" }}{{ tpl $v . }}{{ else }}{{ toYaml $v }}{{ end }}\n'
        "{{- end -}}\n"
    )
    webhook = 'objectSelector: {{ include "chart.selector" . }}\n'
    schema = chart_schema(tmp_path, values, {"_helpers.tpl": helpers, "webhook.yaml": webhook})
    assert valid(schema, {"webhook": {"objectSelector": {"matchLabels": {"a": "b"}}}})
    assert valid(schema, {"objectSelector": {"matchLabels": {"a": "b"}}})
    assert not valid(schema, {"webhook": {"objectSelector": 3}})


def test_an_empty_value_the_templates_give_a_text_function_is_text(tmp_path: Path) -> None:
    """`nameOverride:` is empty in values.yaml; the templates cut it (`trunc 63`), which
    fails on anything but text. A value the templates also render whole stays any value,
    and so does a list whose items' names they lower-case."""
    values = "nameOverride:\nproxy:\n  url:\nextra:\nhosts:\n"
    helpers = (
        '{{- define "chart.name" -}}\n'
        '{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}\n'
        "{{- end -}}\n"
    )
    pod = (
        'name: {{ include "chart.name" . }}\n'
        'proxy: {{ printf "%s" (lower .Values.proxy.url) }}\n'
        "{{- if .Values.fullnameOverride }}{{ .Values.fullnameOverride | trunc 63 }}{{ end }}\n"
        "extra: {{ .Values.extra | nindent 2 }}{{ toYaml .Values.extra }}\n"
        "{{- range .Values.hosts }}{{ lower .name }}{{ end }}\n"
    )
    schema = chart_schema(tmp_path, values, {"_helpers.tpl": helpers, "pod.yaml": pod})
    assert valid(schema, {"nameOverride": "web", "fullnameOverride": "web-1"})
    assert valid(schema, {"proxy": {"url": "http://proxy:3128"}})
    assert not valid(schema, {"nameOverride": 42})
    assert not valid(schema, {"fullnameOverride": {"value": "x"}})  # read, not shown
    assert not valid(schema, {"proxy": {"url": 3128}})
    assert valid(schema, {"extra": {"a": 1}})
    assert valid(schema, {"hosts": [{"name": "a"}]})


def test_an_empty_value_is_typed_by_its_example_commented_out_below_it(
    tmp_path: Path,
) -> None:
    """opentelemetry-collector's `lifecycleHooks: {}`, then the same key commented out
    with an example: the example types it (open, as examples are). A name that says the
    type (`resources`) keeps saying it."""
    values = (
        "lifecycleHooks: {}\n"
        "# lifecycleHooks:\n#   preStop:\n#     exec:\n#       command:\n#       - sleep\n"
        "resizePolicy: []\n"
        "# resizePolicy:\n#   - resourceName: cpu\n#     restartPolicy: NotRequired\n"
        "endpoint:\n"
        "# endpoint: http://collector:4318\n"
        "resources: {}\n"
        "# resources:\n#   limits:\n#     cpu: 100m\n"
    )
    schema = chart_schema(tmp_path, values)
    assert valid(schema, {"lifecycleHooks": {"preStop": {"exec": {"command": ["a"]}}}})
    assert valid(schema, {"lifecycleHooks": {"postStart": {"sleep": {"seconds": 1}}}})
    assert not valid(schema, {"lifecycleHooks": {"preStop": {"exec": {"command": "sleep"}}}})
    assert valid(schema, {"resizePolicy": [{"resourceName": "memory"}]})
    assert not valid(schema, {"resizePolicy": [{"resourceName": 42}]})
    assert valid(schema, {"endpoint": "http://other:4318"})
    assert not valid(schema, {"endpoint": {"url": "x"}})
    assert valid(schema, {"resources": {"requests": {"memory": "1Gi"}}})
    assert not valid(schema, {"resources": {"limit": {}}})


def test_an_empty_value_is_typed_by_the_example_commented_out_inside_it(
    tmp_path: Path,
) -> None:
    """`helm create`'s way: `tls: []` then the items commented out under it, or prose and
    then keys indented under `{}`. A comment at the key's own column that is not an item
    belongs to the next key; a list of words with prose after them is no example. The key
    commented out with an example inside its helm-docs description is one too."""
    values = (
        "ingress:\n"
        "  hosts:\n"
        "    []\n"
        "    # - host: chart-example.local\n"
        "    #   paths:\n"
        "    #   - path: /\n"
        "  tls: []\n"
        "  #  - secretName: chart-example-tls\n"
        "  #    hosts:\n"
        "  #      - chart-example.local\n"
        "  # parentRefs:\n"
        "  #   - name: my-gateway\n"
        "  parentRefs: []\n"
        "  # hostnames to match\n"
        "  # hostnames:\n"
        "  #   - collector.example.com\n"
        "  hostnames: []\n"
        "tuning: {}\n"
        "  # Uncomment to tune; the defaults suit most clusters.\n"
        "  # workers: 4\n"
        "  # queue: fifo\n"
        "proxies: []\n"
        "# - istio: watches the gateways Istio manages\n"
        "# - envoy-gateway: configures Envoy Gateway resources\n"
        "route:\n"
        "  # -- Parent references. Example:\n"
        "  # parentRefs:\n"
        "  #   - name: my-gateway\n"
        "  parentRefs: []\n"
    )
    schema = chart_schema(tmp_path, values)
    ingress = {"hosts": [{"host": "a.example", "paths": [{"path": "/a", "extra": 1}]}]}
    assert valid(schema, {"ingress": ingress})
    assert not valid(schema, {"ingress": {"hosts": [{"host": {"name": "a"}}]}})
    assert valid(schema, {"ingress": {"tls": [{"secretName": "s", "hosts": ["a.example"]}]}})
    assert not valid(schema, {"ingress": {"tls": [{"hosts": "a.example"}]}})
    assert valid(schema, {"ingress": {"parentRefs": [{"name": "gw", "namespace": "x"}]}})
    assert valid(schema, {"ingress": {"hostnames": ["b.example"]}})
    assert not valid(schema, {"ingress": {"hostnames": [{"name": "b"}]}})
    assert valid(schema, {"tuning": {"workers": 8, "queue": "lifo", "other": True}})
    assert not valid(schema, {"tuning": {"workers": "many"}})
    assert valid(schema, {"proxies": ["istio", "envoy-gateway"]})
    assert valid(schema, {"route": {"parentRefs": [{"name": "gw", "port": 80}]}})
    assert not valid(schema, {"route": {"parentRefs": [{"name": 42}]}})


def test_a_field_the_templates_quote_in_each_entry_takes_any_scalar(tmp_path: Path) -> None:
    """`env: []` is a list of Kubernetes EnvVars by its name; datadog builds each entry
    itself with `value: {{ .value | quote }}`, so its own CI sets `value: 7500`."""
    values = "env: []\nextraEnv: []\n"
    pod = (
        "env:\n{{- range .Values.env }}\n"
        "- name: {{ .name | quote }}\n  value: {{ .value | quote }}\n"
        "{{- end }}\n{{- with .Values.extraEnv }}{{ toYaml . }}{{ end }}\n"
    )
    schema = chart_schema(tmp_path, values, {"pod.yaml": pod})
    assert valid(schema, {"env": [{"name": "A", "value": 7500}, {"name": "B", "value": True}]})
    assert valid(schema, {"env": [{"name": 42, "value": 1.5}]})  # both fields quoted
    assert not valid(schema, {"env": [{"name": "A", "value": {"x": 1}}]})
    assert not valid(schema, {"env": [{"name": "A", "vaule": "x"}]})
    assert not valid(schema, {"extraEnv": [{"name": "A", "value": 7500}]})  # rendered as given


def test_a_value_rendered_whole_as_a_kubernetes_field_has_its_type(tmp_path: Path) -> None:
    """opentelemetry-collector renders `lifecycleHooks` as a container's `lifecycle`: the
    API server takes it as a `Lifecycle`. The value's own name says it first, and the
    author's `@schema` type is the last word."""
    values = (
        "lifecycleHooks: {}\n"
        "hooks: {}\n"
        "podSecurityContext: {}\n"
        "# @schema\n# type: object\n# @schema\n"
        "ownHooks: {}\n"
    )
    pod = (
        "lifecycle:\n  {{- toYaml .Values.lifecycleHooks | nindent 2 }}\n"
        "other:\n  {{- toYaml .Values.hooks | nindent 2 }}\n"
        "securityContext: {{ toYaml .Values.podSecurityContext }}\n"
        "lifecycle: {{ toYaml .Values.ownHooks }}\n"
    )
    schema = chart_schema(tmp_path, values, {"pod.yaml": pod})
    assert valid(schema, {"lifecycleHooks": {"preStop": {"exec": {"command": ["sleep", "5"]}}}})
    assert not valid(schema, {"lifecycleHooks": {"preStop": {"exec": {"command": "sleep"}}}})
    assert not valid(schema, {"lifecycleHooks": {"preStopp": {}}})
    assert valid(schema, {"hooks": {"anything": 1}})
    assert valid(schema, {"podSecurityContext": {"fsGroup": 2000}})  # a pod's, by its name
    assert valid(schema, {"ownHooks": {"example": "value"}})


LIBRARY_RENDER = (
    "{{/* a value as YAML, or as template text when it is a string */}}\n"
    '{{- define "lib.render" -}}\n'
    '{{- $text := typeIs "string" .value | ternary .value (.value | toYaml) }}\n'
    "{{- tpl $text .context }}\n"
    "{{- end -}}\n"
)
USES_LIBRARY = (
    "spec:\n"
    '  affinity: {{- include "lib.render" (dict "value" .Values.affinity "context" $)'
    " | nindent 4 }}\n"
    '  sidecars: {{- include "lib.render" (dict "value" .Values.sidecars "context" $)'
    " | nindent 4 }}\n"
    '  extra: {{- include "lib.render" (dict "value" .Values.extra "context" $) }}\n'
)
LIBRARY_VALUES = "affinity: {}\nsidecars: []\nextra:\n  color: blue\n"


def _library_chart(tmp_path: Path, *, archived: bool) -> Path:
    root = tmp_path / "chart"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text(
        "apiVersion: v2\nname: chart\nversion: 0.1.0\n"
        "dependencies:\n  - name: lib\n    version: 1.0.0\n"
    )
    (root / "values.yaml").write_text(LIBRARY_VALUES)
    (root / "templates" / "app.yaml").write_text(USES_LIBRARY)
    library = tmp_path / "lib"
    (library / "templates").mkdir(parents=True)
    (library / "Chart.yaml").write_text(
        "apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n"
    )
    (library / "templates" / "_render.tpl").write_text(LIBRARY_RENDER)
    (root / "charts").mkdir()
    if archived:
        with tarfile.open(root / "charts" / "lib-1.0.0.tgz", "w:gz") as tar:
            tar.add(library, arcname="lib")
    else:
        shutil.copytree(library, root / "charts" / "lib")
    return root


def _library_template(root: Path, name: str, text: str) -> None:
    (root / "charts" / "lib" / "templates" / name).write_text(text)


@pytest.mark.parametrize("archived", [False, True], ids=["folder", "tgz"])
def test_a_library_charts_named_templates_say_what_a_value_may_be(
    tmp_path: Path, archived: bool
) -> None:
    """bitnami's charts render nearly every value through their `common` library's
    `common.tplvalues.render`: YAML, or template text when the user gives a string. The
    library's templates (a folder or the .tgz `helm dependency build` leaves) are read
    with the chart's, so those values admit text and render whole."""
    root = _library_chart(tmp_path, archived=archived)
    schema = infer_chart_schema(root, {"name": "chart"})
    assert valid(schema, yaml.safe_load(LIBRARY_VALUES))
    assert valid(schema, {"affinity": '{{ include "my.affinity" . }}'})
    assert valid(schema, {"sidecars": "- name: proxy\n  image: envoy"})
    assert valid(schema, {"extra": {"size": 3}})  # rendered whole: its keys are the user's
    assert not valid(schema, {"affinity": 5})
    assert not valid(schema, {"sidecar": []})  # the root stays closed


def test_a_subchart_that_is_not_a_library_is_not_read_as_the_charts(tmp_path: Path) -> None:
    """A subchart's `.Values` are its own: its templates say nothing of the parent's."""
    root = _library_chart(tmp_path, archived=False)
    chart_yaml = root / "charts" / "lib" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("type: library\n", ""))
    _library_template(root, "cm.yaml", "data:\n  x: {{ toYaml .Values.extra }}\n")
    schema = infer_chart_schema(root, {"name": "chart"})
    assert not valid(schema, {"affinity": "text"})
    assert not valid(schema, {"extra": {"size": 3}})


def test_values_passed_in_a_list_reach_the_named_template_that_ranges_over_it(
    tmp_path: Path,
) -> None:
    """bitnami's `common.tplvalues.merge (dict "values" (list .Values.a .Values.b) ...)`
    renders each value of the list through `common.tplvalues.render`: each may be text."""
    root = _library_chart(tmp_path, archived=False)
    _library_template(
        root,
        "_merge.tpl",
        '{{- define "lib.merge" -}}\n'
        "{{- range .values }}\n"
        '{{ include "lib.render" (dict "value" . "context" $.context) }}\n'
        "{{- end }}\n"
        "{{- end -}}\n",
    )
    (root / "values.yaml").write_text("annotations: {}\ncommonAnnotations: {}\n")
    (root / "templates" / "app.yaml").write_text(
        "annotations:\n"
        '  {{- include "lib.merge" (dict "values" (list .Values.annotations'
        ' .Values.commonAnnotations) "context" $) | nindent 2 }}\n'
    )
    schema = infer_chart_schema(root, {"name": "chart"})
    assert valid(schema, {"annotations": "team: {{ .Release.Name }}"})
    assert valid(schema, {"commonAnnotations": "team: blue"})
    assert not valid(schema, {"annotations": 3})


def test_defaults_the_templates_merge_the_values_over_are_root_keys(tmp_path: Path) -> None:
    """istio's charts keep their defaults under one key and merge the user's values over
    them (`set $ "Values" (mustMergeOverwrite $defaults $.Values)`): users set `kind`,
    not `_internal_defaults_do_not_set.kind`, and the root takes the defaults' keys and
    types."""
    values = (
        "_internal_defaults_do_not_set:\n"
        "  kind: Deployment\n"
        "  replicaCount: 1\n"
        "  service:\n"
        "    type: ClusterIP\n"
    )
    profile = (
        "{{- $defaults := $.Values._internal_defaults_do_not_set }}\n"
        '{{- $_ := unset $.Values "_internal_defaults_do_not_set" }}\n'
        '{{- $b := set $ "Values" (mustMergeOverwrite $defaults $.Values) }}\n'
    )
    deployment = "kind: {{ .Values.kind }}\nreplicas: {{ .Values.replicaCount }}\n"
    schema = chart_schema(
        tmp_path, values, {"zzz_profile.yaml": profile, "deployment.yaml": deployment}
    )
    assert valid(schema, {"kind": "DaemonSet", "service": {"type": "NodePort"}})
    assert not valid(schema, {"replicaCount": "three"})
    assert not valid(schema, {"service": {"typ": "NodePort"}})
    assert not valid(schema, {"replica": 2})
    assert "default" not in schema["properties"]["kind"]  # the templates' merge fills it


def test_a_broken_archive_under_charts_reads_as_no_library(tmp_path: Path) -> None:
    root = _library_chart(tmp_path, archived=True)
    (root / "charts" / "lib-1.0.0.tgz").write_bytes(b"\x1f\x8b not really gzip")
    schema = infer_chart_schema(root, {"name": "chart"})
    assert valid(schema, yaml.safe_load(LIBRARY_VALUES))
    assert not valid(schema, {"affinity": "text"})  # the library is not read


def test_a_librarys_own_reads_of_values_are_not_the_charts(tmp_path: Path) -> None:
    """A library defines templates for many charts; what they read of `.Values` directly
    (bitnami's common reads `.Values.mongodb.enabled` in a template redis never calls,
    and shows `.Values.path.to.the.Value` in a usage comment) is no key of this chart:
    only what the chart passes them counts."""
    root = _library_chart(tmp_path, archived=False)
    _library_template(
        root,
        "_other.tpl",
        "{{/*\nUsage:\n"
        '{{ include "lib.render" (dict "value" .Values.path.to.the.Value "context" $) }}\n'
        "*/}}\n"
        '{{- define "lib.mongodb" -}}{{ if .Values.mongodb.enabled }}x{{ end }}{{- end -}}\n'
        '{{- define "lib.cassandra" -}}{{ .context.Values.cassandra.enabled }}{{- end -}}\n',
    )
    schema = infer_chart_schema(root, {"name": "chart"})
    assert not {"mongodb", "path", "cassandra"} & set(schema["properties"])
    assert valid(schema, {"affinity": '{{ include "my.affinity" . }}'})  # still read
