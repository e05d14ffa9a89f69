"""The example site chart, its schema, the example Sites, the binding and the CRD.

Rendering goes through the real helm binary: the chart is what lostromos
serves, so what helm does with it is the fact to check.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lostromos.authoring.crdgen import STATUS_SCHEMA
from lostromos.config import load_bindings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "site"
EXAMPLES = ROOT / "examples"
SCHEMA = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
VALUES = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
SITE_KINDS = ["ConfigMap", "Deployment", "Ingress", "PersistentVolumeClaim", "Service"]
MINIMAL = {"domain": "a.example.com", "adminEmail": "a@example.com"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # Keep helm's cache/config/data out of the developer's home directory.
    home = tmp_path_factory.mktemp("helm-home")
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


class Helm:
    def __init__(self, binary: Path, env: dict[str, str], workdir: Path) -> None:
        self.binary, self.env, self.workdir = binary, env, workdir

    def run(self, *args: str, values: dict | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(self.binary), *args]
        if values is not None:
            values_file = self.workdir / f"values-{len(list(self.workdir.iterdir()))}.json"
            values_file.write_text(json.dumps(values), encoding="utf-8")
            command += ["--values", str(values_file)]
        return subprocess.run(
            command, capture_output=True, text=True, env=self.env, timeout=120, check=False
        )

    def template(self, values: dict, release: str = "blog") -> dict[str, dict[str, Any]]:
        """Render and index the objects by kind (the chart makes one of each)."""
        result = self.run("template", release, str(CHART), "--namespace", "default", values=values)
        assert result.returncode == 0, result.stderr
        objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        by_kind = {obj["kind"]: obj for obj in objects}
        assert len(by_kind) == len(objects), "the chart renders one object per kind"
        return by_kind

    def refusal(self, values: dict) -> str:
        result = self.run("template", "blog", str(CHART), values=values)
        assert result.returncode != 0, "helm accepted values it should refuse"
        return result.stderr


@pytest.fixture
def helm(helm_binary: Path, env: dict[str, str], tmp_path: Path) -> Helm:
    return Helm(helm_binary, env, tmp_path)


def example_spec(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))["spec"]


def env_of(deployment: dict) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item["value"] for item in container["env"]}


# --- helm's own view of the chart ---


@pytest.mark.parametrize("example", ["site.yaml", "site-shop.yaml"])
def test_helm_lint_is_clean_with_example_values(helm: Helm, example: str) -> None:
    result = helm.run("lint", "--strict", str(CHART), values=example_spec(example))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_minimal_site_renders_with_defaults(helm: Helm) -> None:
    rendered = helm.template(example_spec("site.yaml"))
    assert sorted(rendered) == SITE_KINDS
    for obj in rendered.values():
        assert obj["metadata"]["name"] == "blog"
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "site"
        assert labels["app.kubernetes.io/instance"] == "blog"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/version"] == "6.8"
        assert labels["helm.sh/chart"] == "site-1.0.0"

    deployment = rendered["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    assert container["image"] == "wordpress:6.8-php8.3-apache"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    assert env_of(deployment) == {
        "SITE_DOMAIN": "blog.example.com",
        "SITE_URL": "http://blog.example.com",
        "SITE_ADMIN_EMAIL": "admin@example.com",
        "PHP_VERSION": "8.3",
        "PHP_WORKERS": "8",
        "PHP_MEMORY_LIMIT": "256M",
        "SITE_PLUGINS_FILE": "/etc/site/plugins.json",
    }
    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
    assert volumes["content"]["persistentVolumeClaim"]["claimName"] == "blog"
    assert volumes["config"]["configMap"]["name"] == "blog"

    config = rendered["ConfigMap"]["data"]
    assert json.loads(config["plugins.json"]) == [
        {"name": "akismet", "version": "5.3", "enabled": True},
        {"name": "wordpress-seo", "version": "24.1", "enabled": False},
    ]
    assert "memory_limit = 256M" in config["site.ini"]
    assert "MaxRequestWorkers 8" in config["workers.conf"]

    claim = rendered["PersistentVolumeClaim"]["spec"]
    assert claim["accessModes"] == ["ReadWriteOnce"]
    assert claim["resources"]["requests"]["storage"] == "10Gi"
    assert "storageClassName" not in claim

    service = rendered["Service"]["spec"]
    assert service["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]

    ingress = rendered["Ingress"]["spec"]
    assert "tls" not in ingress
    assert ingress["rules"][0]["host"] == "blog.example.com"


def test_shop_site_renders_its_overrides(helm: Helm) -> None:
    rendered = helm.template(example_spec("site-shop.yaml"), release="shop")
    deployment = rendered["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    assert "strategy" not in deployment["spec"]  # a shared volume allows rolling updates
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "wordpress:6.8-php8.4-apache"
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}
    environment = env_of(deployment)
    assert environment["PHP_VERSION"] == "8.4"
    assert environment["PHP_WORKERS"] == "16"
    assert environment["SITE_URL"] == "https://shop.example.com"
    assert [p["name"] for p in json.loads(rendered["ConfigMap"]["data"]["plugins.json"])] == [
        "woocommerce",
        "woocommerce-payments",
        "akismet",
    ]
    claim = rendered["PersistentVolumeClaim"]["spec"]
    assert claim["storageClassName"] == "shared-nfs"
    assert claim["accessModes"] == ["ReadWriteMany"]
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    assert rendered["Ingress"]["spec"]["tls"] == [
        {"hosts": ["shop.example.com"], "secretName": "shop-example-com-tls"}
    ]


def test_tls_without_secret_name_uses_the_release_name(helm: Helm) -> None:
    rendered = helm.template({**MINIMAL, "tls": {"enabled": True}}, release="news")
    assert rendered["Ingress"]["spec"]["tls"][0]["secretName"] == "news-tls"


def test_explicit_image_tag_wins_and_legacy_mode_still_works(helm: Helm) -> None:
    values = {**MINIMAL, "image": {"tag": "custom-1"}, "php": {"legacyMode": True}}
    deployment = helm.template(values)["Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "wordpress:custom-1"
    assert env_of(deployment)["PHP_LEGACY_MODE"] == "1"


def test_config_change_changes_the_pod_template(helm: Helm) -> None:
    def checksum(values: dict) -> str:
        pod = helm.template(values)["Deployment"]["spec"]["template"]
        return pod["metadata"]["annotations"]["checksum/config"]

    assert checksum(MINIMAL) == checksum(MINIMAL)
    assert checksum(MINIMAL) != checksum({**MINIMAL, "php": {"workers": 9}})


def test_names_follow_the_release_name(helm: Helm) -> None:
    release = "a" * 53  # the longest release name helm accepts
    rendered = helm.template(MINIMAL, release=release)
    assert {obj["metadata"]["name"] for obj in rendered.values()} == {release}


def test_only_namespaced_objects_are_rendered(helm: Helm) -> None:
    rendered = helm.template(example_spec("site-shop.yaml"))
    namespaced = {"ConfigMap", "Deployment", "Ingress", "PersistentVolumeClaim", "Service"}
    assert set(rendered) <= namespaced


def test_notes_summarise_the_site_and_warn_about_deprecations(helm: Helm) -> None:
    values = {
        **MINIMAL,
        "replicas": 2,
        "php": {"legacyMode": True},
        "plugins": [{"name": "akismet", "version": "5.3"}],
    }
    result = helm.run("install", "blog", str(CHART), "--dry-run=client", values=values)
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "URL:      http://a.example.com/" in notes
    assert "Plugins:  akismet@5.3" in notes
    assert "php.legacyMode is deprecated" in notes
    assert "2 replicas share a ReadWriteOnce volume" in notes


def test_helm_refuses_a_site_without_domain_and_admin_email(helm: Helm) -> None:
    stderr = helm.refusal({})
    assert "missing properties 'domain', 'adminEmail'" in stderr


def test_helm_refuses_the_invalid_example_naming_every_problem(helm: Helm) -> None:
    stderr = helm.refusal(example_spec("invalid/site-bad.yaml"))
    assert "missing property 'adminEmail'" in stderr
    assert "at '/replicas': minimum: got 0, want 1" in stderr
    assert "at '/php/version': value must be one of '8.1', '8.2', '8.3', '8.4'" in stderr
    assert "additional properties 'theme' not allowed" in stderr


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"replicas": 21}, "at '/replicas'"),
        ({"php": {"workers": 0}}, "at '/php/workers'"),
        ({"php": {"memoryLimit": "256MB"}}, "at '/php/memoryLimit'"),
        ({"plugins": [{"name": "Bad_Name", "version": "1.0"}]}, "at '/plugins/0/name'"),
        ({"plugins": [{"name": "ok", "version": "latest"}]}, "at '/plugins/0/version'"),
        ({"plugins": [{"name": "ok", "version": "1.0", "extra": 1}]}, "at '/plugins/0'"),
        ({"storage": {"size": "10GB"}}, "at '/storage/size'"),
        ({"resources": {"limits": {"cpu": "lots"}}}, "at '/resources/limits/cpu'"),
        ({"image": {"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy'"),
        ({"domain": "Not A Host"}, "at '/domain'"),
        ({"domain": "a" * 64 + ".example.com"}, "at '/domain'"),
        ({"adminEmail": "nobody"}, "at '/adminEmail'"),
    ],
)
def test_helm_refuses_values_outside_the_schema(helm: Helm, values: dict, complaint: str) -> None:
    assert complaint in helm.refusal({**MINIMAL, **values})


# --- the schema and values.yaml as documents ---


def test_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["required"] == ["domain", "adminEmail"]
    assert SCHEMA["additionalProperties"] is False
    assert '"$ref": "#/$defs/' in (CHART / "values.schema.json").read_text(encoding="utf-8")


def resolve(node: dict) -> dict:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = SCHEMA
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def walk_properties(node: dict, path: str = "") -> list[tuple[str, dict]]:
    node = resolve(node)
    found = []
    for name, child in node.get("properties", {}).items():
        found.append((f"{path}.{name}".lstrip("."), child))
        found.extend(walk_properties(child, f"{path}.{name}"))
    if "items" in node:
        found.extend(walk_properties(node["items"], f"{path}[]"))
    return found


def test_every_property_is_described() -> None:
    undescribed = [path for path, node in walk_properties(SCHEMA) if not node.get("description")]
    undescribed += [name for name, node in SCHEMA["$defs"].items() if not node.get("description")]
    assert undescribed == []


def test_every_object_is_closed() -> None:
    # A misspelt key is refused everywhere; a map whose keys are data (podAnnotations)
    # says so by typing its values in additionalProperties.
    objects = [(path, resolve(node)) for path, node in walk_properties(SCHEMA)]
    open_objects = [
        path
        for path, node in [("", SCHEMA), *objects]
        if node.get("type") == "object"
        and node.get("additionalProperties") is not False
        and not isinstance(node.get("additionalProperties"), dict)
    ]
    assert open_objects == []
    maps = [p for p, n in objects if isinstance(n.get("additionalProperties"), dict)]
    assert maps == ["podAnnotations"]


def schema_defaults(node: dict) -> Any:
    """The value the schema implies when nothing is given: defaults of the leaves."""
    node = resolve(node)
    if "properties" not in node:
        return node.get("default")
    implied = {name: schema_defaults(child) for name, child in node["properties"].items()}
    return {name: value for name, value in implied.items() if value is not None}


def test_values_yaml_agrees_with_the_schema_defaults() -> None:
    implied = schema_defaults(SCHEMA)
    # Quantities share one $def, so their defaults sit on requests/limits, not on the leaves.
    resources = SCHEMA["properties"]["resources"]["properties"]
    implied["resources"] = {name: resolve(node)["default"] for name, node in resources.items()}
    assert implied == VALUES
    for path, node in walk_properties(SCHEMA):
        if "default" in node and "[]" not in path:
            value: Any = VALUES
            for part in path.split("."):
                value = value[part]
            assert value == node["default"], path


def count_keys(value: Any) -> int:
    if not isinstance(value, dict):
        return 0
    return sum(1 + count_keys(child) for child in value.values())


def test_values_yaml_leaves_required_fields_to_the_user_and_documents_every_key() -> None:
    assert "domain" not in VALUES and "adminEmail" not in VALUES
    lines = (CHART / "values.yaml").read_text(encoding="utf-8").splitlines()
    keys = [index for index, line in enumerate(lines) if re.match(r"^\s*[A-Za-z]\w*:", line)]
    assert len(keys) == count_keys(VALUES)  # the pattern found every key, no more
    for index in keys:
        assert lines[index - 1].lstrip().startswith("#"), f"no comment above {lines[index]!r}"
    jsonschema.validate({**VALUES, **MINIMAL}, SCHEMA)


def test_deprecated_property_says_what_replaces_it() -> None:
    deprecated = {path: node for path, node in walk_properties(SCHEMA) if node.get("deprecated")}
    assert list(deprecated) == ["php.legacyMode"]
    assert "php.version" in deprecated["php.legacyMode"]["description"]
    assert "legacyMode" not in VALUES["php"]


# --- examples, binding and CRD agree with each other ---


def test_binding_file_binds_the_site_chart() -> None:
    binding = load_bindings(ROOT / "lostromos.yaml").by_name("site")
    assert binding.gvk == ("hosting.example.com", "v1", "Site")
    assert binding.plural == "sites"
    assert binding.chart.path == CHART
    assert "lostromos" in binding.categories
    assert binding.short_names


def test_crd_matches_the_binding() -> None:
    binding = load_bindings(ROOT / "lostromos.yaml").by_name("site")
    crd = yaml.safe_load((ROOT / "crds" / "hosting.example.com_sites.yaml").read_text())
    assert crd["metadata"]["name"] == binding.crd_name
    spec = crd["spec"]
    assert (spec["group"], spec["scope"]) == (binding.group, "Namespaced")
    assert spec["names"]["kind"] == binding.kind
    assert spec["names"]["plural"] == binding.plural
    assert spec["names"]["shortNames"] == list(binding.short_names)
    assert spec["names"]["categories"] == list(binding.categories)
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: (c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Ready": ("string", '.status.conditions[?(@.type=="Ready")].status'),
        "Reason": ("string", '.status.conditions[?(@.type=="Ready")].reason'),
        "Health": ("string", '.status.conditions[?(@.type=="Healthy")].reason'),
        "Chart": ("string", ".status.chart.version"),
        "Deployed": ("string", ".status.release.chartVersion"),
        "Revision": ("integer", ".status.release.revision"),
        "Suspended": ("string", ".metadata.annotations.lostromos\\.dev/suspend"),
        "Message": ("string", '.status.conditions[?(@.type=="Ready")].message'),
        "Age": ("date", ".metadata.creationTimestamp"),
    }
    properties = version["schema"]["openAPIV3Schema"]["properties"]
    assert properties["spec"]["x-kubernetes-preserve-unknown-fields"] is True
    # Exactly what the controller writes: one schema, kept with the CRD generator.
    assert properties["status"] == STATUS_SCHEMA


@pytest.mark.parametrize("example", ["site.yaml", "site-shop.yaml", "invalid/site-bad.yaml"])
def test_examples_are_site_objects_with_a_comment(example: str) -> None:
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    assert text.startswith("# ")
    document = yaml.safe_load(text)
    assert document["apiVersion"] == "hosting.example.com/v1"
    assert document["kind"] == "Site"
    assert document["metadata"]["namespace"] == "default"


def test_python_jsonschema_agrees_on_the_examples() -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for example in ["site.yaml", "site-shop.yaml"]:
        assert list(validator.iter_errors(example_spec(example))) == [], example
    problems = {
        "/".join(map(str, error.absolute_path)) or error.validator
        for error in validator.iter_errors(example_spec("invalid/site-bad.yaml"))
    }
    assert problems == {"required", "replicas", "php/version", "additionalProperties"}
