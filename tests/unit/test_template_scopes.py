"""What a chart's templates read from `.Values`, through scopes, variables and named
templates, and what `schema init` makes of it."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from lostromos.authoring.infer import infer_chart_schema
from lostromos.authoring.templatescopes import scan_templates, scanned


def reads(template: str, *helpers: str) -> set[str]:
    files = [("templates/main.yaml", template)]
    files += [(f"templates/_helpers{n}.tpl", text) for n, text in enumerate(helpers)]
    return {".".join(path) for path in scan_templates(files)}


def test_full_paths_and_index_are_reads() -> None:
    found = reads('{{ .Values.a.b }} {{ $.Values.c }} {{ index .Values "d" "e-f" }}')
    assert found == {"a.b", "c", "d.e-f"}


def test_with_sets_the_dot_for_its_body_only() -> None:
    template = (
        "{{- with .Values.webhook }}\n"
        "image: {{ .image.tag }}\n"
        "{{- else }}{{ .other }}\n"
        "{{- end }}\n"
        "{{ .loose }}\n"
    )
    assert reads(template) == {"webhook", "webhook.image.tag"}


def test_with_nested_in_with_and_else_with() -> None:
    template = (
        "{{ with .Values.a }}{{ with .b }}{{ .c }}{{ end }}{{ end }}"
        "{{ with .Values.x }}{{ .y }}{{ else with .Values.z }}{{ .w }}{{ end }}"
    )
    assert reads(template) >= {"a.b.c", "x.y", "z.w"}
    assert "x.w" not in reads(template)


def test_variables_hold_their_place_and_default_keeps_it() -> None:
    template = (
        "{{- $svc := .Values.service }}{{ $svc.port }}\n"
        "{{- $tls := .Values.tls | default dict }}{{ $tls.secretName }}\n"
        "{{- $db := default (dict) .Values.db }}{{ $db.host }}\n"
        "{{- $n := .Values.count | int }}{{ $n.never }}\n"
        "{{- with $x := .Values.extra }}{{ $x.key }}{{ end }}\n"
    )
    found = reads(template)
    assert {"service.port", "tls.secretName", "db.host", "extra.key"} <= found
    assert "count.never" not in found


def test_range_elements_are_not_keys_of_the_list() -> None:
    template = (
        "{{- range .Values.hosts }}{{ .name }}{{ end }}\n"
        "{{- range $k, $v := .Values.labels }}{{ $v.x }}{{ $k }}{{ end }}\n"
        "{{- range .Values.items }}{{ $.Values.top }}{{ end }}\n"
    )
    assert reads(template) == {"hosts", "labels", "items", "top"}


def test_a_parenthesised_subject_is_the_subject() -> None:
    found = reads('{{ with (index .Values "a") }}{{ .b }}{{ end }}')
    assert "a.b" in found


def test_get_hasKey_and_dig_name_keys() -> None:
    template = (
        '{{ get .Values.a "b" }} {{ if hasKey .Values.c "d" }}{{ end }}'
        '{{ dig "e" "f" "none" .Values.g }}'
    )
    assert {"a.b", "c.d", "g.e.f"} <= reads(template)


def test_named_templates_read_through_the_dot_their_callers_pass() -> None:
    template = (
        '{{- with .Values.webhook }}{{ include "chart.image" . }}{{ end }}\n'
        '{{ include "chart.pod" (dict "root" $ "component" .Values.controller) }}\n'
    )
    helpers = (
        '{{- define "chart.image" -}}{{ .image.repository }}:{{ .image.tag }}{{- end }}\n'
        '{{- define "chart.pod" -}}{{ .component.replicas }}'
        "{{ .root.Values.global.registry }}"
        '{{ include "chart.image" .component }}{{- end }}\n'
    )
    found = reads(template, helpers)
    assert {
        "webhook.image.repository",
        "webhook.image.tag",
        "controller.replicas",
        "controller.image.tag",
        "global.registry",
    } <= found


def test_a_define_body_reads_nothing_by_its_own_dot_without_a_caller() -> None:
    assert reads('{{ define "x" }}{{ .name }}{{ end }}') == set()


def test_fields_of_a_parenthesised_pipeline_are_not_fields_of_the_dot() -> None:
    found = reads('{{ with .Values.a }}{{ (include "t" $).b }}{{ end }}')
    assert "a.b" not in found


def test_schema_init_admits_keys_read_through_a_scope(tmp_path: Path) -> None:
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("webhook:\n  enabled: false\n")
    (chart / "templates" / "webhook.yaml").write_text(
        "{{- with .Values.webhook }}{{ if .enabled }}limits: {{ .limits }}{{ end }}{{ end }}\n"
    )
    schema = infer_chart_schema(chart, yaml.safe_load((chart / "Chart.yaml").read_text()))
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"webhook": {"enabled": True, "limits": {"cpu": 1}}})
    assert not validator.is_valid({"webhook": {"enabeld": True}})


def inferred_for(tmp_path: Path, values: str, template: str) -> jsonschema.Validator:
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(values)
    (chart / "templates" / "main.yaml").write_text(template)
    schema = infer_chart_schema(chart, yaml.safe_load((chart / "Chart.yaml").read_text()))
    return jsonschema.Draft202012Validator(schema)


RENDERED_VALUES = """\
socketVolume:
  emptyDir: {}
config:
  server:
    port: 80
checksummed:
  level: info
routes:
  a:
    weight: 1
"""


def test_objects_rendered_whole_are_open_all_the_way_down(tmp_path: Path) -> None:
    template = (
        "volume: {{- toYaml .Values.socketVolume | nindent 2 }}\n"
        "{{- with .Values.config }}config: {{ . | toYaml }}{{ end }}\n"
        "sum: {{ toYaml .Values.checksummed | sha256sum }}\n"
    )
    validator = inferred_for(tmp_path, RENDERED_VALUES, template)
    assert validator.is_valid({"socketVolume": {"hostPath": {"path": "/run"}}})
    assert validator.is_valid({"config": {"server": {"port": 81, "tls": True}, "extra": 1}})
    assert not validator.is_valid({"config": {"server": {"port": "eighty"}}})
    assert not validator.is_valid({"checksummed": {"levle": "debug"}})  # only hashed
    assert not validator.is_valid({"routes": {"b": {"weight": 2}}})  # never ranged here


def test_values_rendered_whole_are_a_programs_config_open_all_the_way_down(
    tmp_path: Path,
) -> None:
    """vcluster's chart puts all of `.Values` into the Secret its program reads: every key
    the user sets lands in the output, so none is refused; the types values.yaml shows
    stay. Hashed (`.Values | toYaml | sha256sum`), nothing of them lands there."""
    hashed = "hash: {{ .Values | toYaml | sha256sum }}\n"
    validator = inferred_for(tmp_path / "hashed", RENDERED_VALUES, hashed)
    assert not validator.is_valid({"config": {"server": {"tsl": True}}})
    whole = hashed + "config.yaml: {{ .Values | toYaml | b64enc | quote }}\n"
    validator = inferred_for(tmp_path / "whole", RENDERED_VALUES, whole)
    assert validator.is_valid({"config": {"server": {"tsl": True}}, "serviceCIDR": "10/8"})
    assert not validator.is_valid({"config": {"server": {"port": "eighty"}}})


def test_objects_ranged_over_are_maps_of_the_users(tmp_path: Path) -> None:
    template = "{{- range $name, $route := .Values.routes }}{{ $name }}{{ $route.weight }}{{ end }}"
    validator = inferred_for(tmp_path, RENDERED_VALUES, template)
    assert validator.is_valid({"routes": {"b": {"weight": 2}}})
    assert not validator.is_valid({"routes": {"a": {"wieght": 2}}})  # an entry keeps its keys


def test_broken_templates_read_what_can_be_read_and_never_fail() -> None:
    broken = [
        "{{ with }}{{ .a }}{{ end }}",
        "{{ | }}",
        "{{ end }}{{ end }}{{ .Values.a.b }}",
        "{{ range $k, := }}{{ $k.x }}",
        '{{ include "x" ( }}',
        "{{ dig }}{{ index }}{{ toYaml }}",
        "{{ with .Values.a",
    ]
    assert reads(*broken[:1], *broken[1:]) == {"a.b"}


def test_a_field_of_a_parenthesised_operand_is_a_field_of_the_operand() -> None:
    found = reads("{{ toYaml ((.Values.injector.webhook)).objectSelector }}{{ ($.Values.a).b }}")
    assert {"injector.webhook.objectSelector", "a.b"} <= found


def test_a_value_that_is_one_of_several_is_used_as_each_of_them() -> None:
    """`$v := or A B`: what the templates do with $v, they do with A or with B."""
    template = (
        "{{- $v := or .Values.webhook.selector .Values.selector -}}\n"
        '{{- if eq (typeOf $v) "string" }}{{ tpl $v . }}{{ else }}{{ toYaml $v }}{{ end }}\n'
        "{{- with coalesce .Values.a.labels .Values.labels (dict) }}{{ toYaml . }}{{ end }}\n"
    )
    scan = scanned([("templates/main.yaml", template)])
    assert {("webhook", "selector"), ("selector",)} <= set(scan.values_templated())
    rendered = set(scan.values_rendered())
    assert {("webhook", "selector"), ("selector",), ("a", "labels"), ("labels",)} <= rendered


def test_values_given_to_functions_that_take_text() -> None:
    template = (
        '{{ .Values.a | default "x" | trunc 63 }}{{ trunc .Values.count .Values.b }}\n'
        '{{ printf "%s" (upper .Values.c) }}{{ .Values.d | quote | trimSuffix "-" }}\n'
        "{{ trunc 5 (toYaml .Values.e) }}{{ .Values.f | toString | lower }}\n"
    )
    texts = set(scanned([("templates/main.yaml", template)]).values_texts())
    assert texts == {("a",), ("b",), ("c",)}


def test_a_pipeline_in_parentheses_is_the_value_it_gives() -> None:
    """`tpl (A | default B) .`: the text given to `tpl` is A, or B where A is empty (vault's
    webhook annotations, a map or template text); `toYaml (...)` renders the same."""
    template = (
        '{{- if eq (typeOf (.Values.a.annotations | default .Values.annotations)) "string" }}\n'
        "{{ tpl (((.Values.a)).annotations | default .Values.annotations) . }}\n"
        "{{- else }}{{ toYaml (.Values.a.annotations | default .Values.annotations) }}\n"
        '{{- end }}{{ tpl (.Values.b | default "x") . }}{{ toYaml (.Values.c | quote) }}\n'
    )
    scan = scanned([("templates/main.yaml", template)])
    assert set(scan.values_templated()) == {("a", "annotations"), ("annotations",), ("b",)}
    assert set(scan.values_rendered()) == {("a", "annotations"), ("annotations",)}


def test_a_copy_is_the_value_it_copies() -> None:
    """opentelemetry-collector renders its collector config from a copy it changes first:
    every key the user gives lands in the output."""
    template = (
        "{{- $config := deepCopy .Values.config }}\n"
        '{{- $_ := set $config.service "telemetry" dict }}\n'
        "{{- $config | toYaml }}{{ toYaml (.Values.extra | mustDeepCopy) }}\n"
    )
    scan = scanned([("templates/main.yaml", template)])
    assert set(scan.values_rendered()) == {("config",), ("extra",)}


def test_fields_of_entries_the_templates_quote() -> None:
    """datadog builds each env entry from its fields and quotes the value."""
    helpers = (
        '{{- define "env" -}}{{- range . }}\n- name: {{ .name }}\n'
        "  value: {{ .value | quote }}{{ squote .other }}\n{{- end }}{{- end }}\n"
    )
    template = '{{ include "env" .Values.agent.env }}{{ .Values.top | quote }}'
    scan = scanned([("templates/main.yaml", template), ("templates/_h.tpl", helpers)])
    assert set(scan.values_quoted()) == {
        ("agent", "env", "*", "value"),
        ("agent", "env", "*", "other"),
    }


def test_the_key_a_value_is_rendered_whole_under() -> None:
    """`lifecycle:` then `toYaml .Values.lifecycleHooks` (lines of actions only between
    them passed over), or on one line; a render that follows other output is under none."""
    template = (
        "containers:\n"
        "  - name: c\n"
        "    {{- if .Values.lifecycleHooks }}\n"
        "    lifecycle:\n"
        "      {{- toYaml .Values.lifecycleHooks | nindent 6 }}\n"
        "    {{- end }}\n"
        "    {{- with .Values.resizePolicy }}\n"
        "    resizePolicy:\n"
        "      {{- toYaml . | nindent 6 }}\n"
        "    {{- end }}\n"
        "    securityContext: {{ toYaml .Values.sc | nindent 6 }}\n"
        "    env:\n"
        "      - name: A\n"
        "        value: b\n"
        "      {{- with .Values.extraEnvs }}{{ toYaml . | nindent 6 }}{{ end }}\n"
    )
    under = scanned([("templates/main.yaml", template)]).values_rendered_under()
    assert under == {
        ("lifecycleHooks",): "lifecycle",
        ("resizePolicy",): "resizePolicy",
        ("sc",): "securityContext",
    }
