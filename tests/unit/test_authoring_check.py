"""`lostromos check`: objects judged offline by the webhook's own review code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lostromos.authoring.check import invalid_under
from lostromos.charts import load_chart
from lostromos.cli import main
from lostromos.config import load_bindings

# check renders every admitted object through the Helm engine, as the webhook does
pytestmark = pytest.mark.usefixtures("helm_engine_binary")

ROOT = Path(__file__).resolve().parents[2]
BINDINGS = str(ROOT / "lostromos.yaml")
EXAMPLES = ROOT / "examples"


def test_a_valid_and_an_invalid_site(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "check",
            "--config",
            BINDINGS,
            "--crd",
            "none",
            str(EXAMPLES / "site.yaml"),
            str(EXAMPLES / "invalid" / "site-bad.yaml"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "Site default/blog: allowed" in out
    assert "Site default/broken: denied" in out
    for field in ("spec.replicas", "spec.php.version", "spec.theme", "spec.adminEmail"):
        assert field in out
    assert out.rstrip().endswith("1 allowed, 1 denied")


def test_by_default_check_answers_what_the_api_server_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The webhook-mode CRD types spec.replicas: the API server refuses a string there
    # before the validating webhook is asked, as kubectl apply shows.
    bad = yaml.safe_load((EXAMPLES / "invalid" / "site-bad.yaml").read_text())
    bad["spec"]["replicas"] = "three"
    path = tmp_path / "typed.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert main(["check", "--config", BINDINGS, str(path)]) == 1
    out = capsys.readouterr().out
    assert (
        'Site.hosting.example.com "broken" is invalid: [spec.replicas: Invalid value: '
        "string: spec.replicas in body must be of type integer]"
    ) in out
    assert main(["check", "--config", BINDINGS, "--crd", "none", str(path)]) == 1
    assert 'spec.replicas: "three" is not allowed' in capsys.readouterr().out


def test_nulls_reach_the_review_and_unknown_fields_follow_the_crd_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": "nulled", "namespace": "team"},
        "spec": {"domain": "a.example.com", "adminEmail": None, "extra": 1},
    }
    path = tmp_path / "nulled.yaml"
    path.write_text(yaml.safe_dump(site))
    assert main(["check", "--config", BINDINGS, str(path)]) == 1
    webhook = capsys.readouterr().out
    # the null reaches the review (a pruned one would read "required property is missing")
    # adminEmail is a sensitivePath of the site binding: the null is named, its value hidden
    assert "spec.adminEmail: <redacted> is not allowed: must be of type string" in webhook
    assert "spec.extra: unknown field" in webhook
    assert main(["check", "--config", BINDINGS, "--crd", "full", str(path)]) == 1
    full = capsys.readouterr().out
    assert 'strict decoding error: unknown field "spec.extra"' in full


def test_patch_and_warnings_are_what_the_webhook_sends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": "old", "namespace": "team"},
        "spec": {
            "domain": "old.example.com",
            "adminEmail": "a@example.com",
            "php": {"legacyMode": True},
            "plugins": [{"name": "akismet", "version": "5.3"}],
        },
    }
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(site))
    assert main(["check", "--config", BINDINGS, str(path)]) == 0
    out = capsys.readouterr().out
    assert "Site team/old: allowed" in out
    assert '  patch: {"op": "add", "path": "/spec/plugins/0/enabled", "value": true}' in out
    assert "  warning: spec.php.legacyMode is deprecated" in out


def test_render_prints_the_manifests_helm_makes(
    helm_engine_binary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "check",
                "--config",
                BINDINGS,
                "--render",
                "--helm-engine",
                str(helm_engine_binary),
                str(EXAMPLES / "site-shop.yaml"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    manifests = out.split("\n", 1)[1].rsplit("\n", 2)[0]  # between the verdict and the summary
    rendered = [d for d in yaml.safe_load_all(manifests) if isinstance(d, dict) and "kind" in d]
    kinds = {d["kind"] for d in rendered}
    assert {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim", "Ingress"} <= kinds
    deployment = next(d for d in rendered if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3


def test_a_list_of_objects_is_checked_item_by_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = yaml.safe_load((EXAMPLES / "site.yaml").read_text())
    listing = {"apiVersion": "v1", "kind": "List", "items": [site, site]}
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump(listing))
    assert main(["check", "--config", BINDINGS, str(path)]) == 0
    assert "2 allowed, 0 denied" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", "no binding in"),
        ("kind: Site\nspec: {}\n", "an object needs apiVersion and kind"),
        ("apiVersion: v1\nkind: Site\nspec: {a: [1\n", "not valid YAML: line 4, column 1"),
    ],
)
def test_bad_objects_are_one_line_and_exit_2(
    tmp_path: Path, text: str, complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "object.yaml"
    path.write_text(text)
    assert main(["check", "--config", BINDINGS, str(path)]) == 2
    err = capsys.readouterr().err
    assert complaint in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        ([], "check needs OBJECT.yaml files"),
        (["--against-cluster", "--binding", "site"], "--against-cluster needs --chart"),
        (
            ["--against-cluster", "--chart", str(ROOT / "charts" / "site"), "--binding", "blog"],
            "no binding named 'blog'",
        ),
        (["/nonexistent/site.yaml"], "file not found"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", BINDINGS, *argv]) == 2
    err = capsys.readouterr().err
    assert complaint in err and err.count("\n") == 1


def test_invalid_under_a_stricter_chart_names_every_reason(tmp_path: Path) -> None:
    binding = load_bindings(BINDINGS).by_name("site")
    stored = [
        {
            "metadata": {"name": "ok", "namespace": "a"},
            "spec": {"domain": "ok.example.com", "adminEmail": "a@example.com"},
        },
        {
            "metadata": {"name": "bad", "namespace": "a"},
            "spec": {"domain": "bad.example.com", "replicas": 30},
        },
    ]
    problems = invalid_under(load_chart(ROOT / "charts" / "site"), binding, stored)
    assert [p.description for p in problems] == ["Site a/bad"]
    reasons = problems[0].reasons
    assert len(reasons) == 2
    assert reasons[0] == "spec.adminEmail: required property is missing"
    assert reasons[1].startswith("spec.replicas: 30 is not allowed")


def test_a_broken_binding_denies_its_objects_and_the_rest_are_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = yaml.safe_load((ROOT / "lostromos.yaml").read_text())
    site = config["bindings"][0]
    site["chart"]["path"] = str(ROOT / "charts" / "site")
    broken = {
        **site,
        "name": "blog",
        "group": "blogs.example.com",
        "kind": "Blog",
        "plural": "blogs",
        "singular": "blog",
        "shortNames": [],
        "chart": {"path": str(tmp_path / "missing")},
    }
    config["bindings"] = [site, broken]
    bindings = tmp_path / "lostromos.yaml"
    bindings.write_text(yaml.safe_dump(config))
    blog = {
        "apiVersion": "blogs.example.com/v1",
        "kind": "Blog",
        "metadata": {"name": "b", "namespace": "default"},
        "spec": {},
    }
    (tmp_path / "blog.yaml").write_text(yaml.safe_dump(blog))
    code = main(
        [
            "check",
            "--config",
            str(bindings),
            str(EXAMPLES / "site.yaml"),
            str(tmp_path / "blog.yaml"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "Site default/blog: allowed" in captured.out
    assert "Blog default/b: denied" in captured.out
    assert "chart directory not found" in captured.out
    assert "lostromos check: binding 'blog':" in captured.err


def test_check_refuses_what_the_templates_refuse(tmp_path: Path, capsys) -> None:
    """check renders as the webhook does: a spec the schema admits but the chart's
    templates cannot render is denied with the template's message."""
    bindings = tmp_path / "bindings.yaml"
    bindings.write_text(
        yaml.safe_dump(
            {
                "bindings": [
                    {
                        "name": "probe",
                        "group": "render.example.com",
                        "version": "v1",
                        "kind": "Probe",
                        "plural": "probes",
                        "chart": {"path": str(ROOT / "tests" / "e2e" / "charts" / "render")},
                    }
                ]
            }
        )
    )
    probe = tmp_path / "probe.yaml"
    probe.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "render.example.com/v1",
                "kind": "Probe",
                "metadata": {"name": "p", "namespace": "team"},
                "spec": {"image": {"tag": "1"}},
            }
        )
    )
    assert main(["check", "--config", str(bindings), "--crd", "none", str(probe)]) == 1
    out = capsys.readouterr().out
    assert (
        "spec: the chart cannot render these values: templates/configmap.yaml: owner is required"
    ) in out
