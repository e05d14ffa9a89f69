"""Bindings file parsing: good files load, each mistake is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lostromos.config import ConfigError, load_bindings, parse_bindings

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_bindings_file_binds_site() -> None:
    bindings = load_bindings(ROOT / "lostromos.yaml")
    site = bindings.find("hosting.example.com", "v1", "Site")
    assert site is not None
    assert site.plural == "sites"
    assert site.chart.path == ROOT / "charts" / "site"
    assert (
        site.release.release_name(name="blog", namespace="default", kind="Site", binding="site")
        == "blog"
    )
    assert bindings.by_name("site") is site


def minimal(**changes: object) -> dict:
    entry = {
        "group": "hosting.example.com",
        "version": "v1",
        "kind": "Site",
        "plural": "sites",
        "chart": "charts/site",
    }
    entry.update(changes)
    return {"bindings": [entry]}


def test_release_name_template_supports_a_prefix() -> None:
    bindings = parse_bindings(minimal(release={"name": "wp-{namespace}-{name}"}), Path("b.yaml"))
    policy = bindings.bindings[0].release
    assert (
        policy.release_name(name="blog", namespace="team-a", kind="Site", binding="site")
        == "wp-team-a-blog"
    )


def test_adopting_unowned_releases_is_off_unless_the_binding_says_so() -> None:
    assert parse_bindings(minimal(), Path("b.yaml")).bindings[0].release.adopt is False
    adopting = parse_bindings(minimal(release={"adopt": True}), Path("b.yaml"))
    assert adopting.bindings[0].release.adopt is True


def test_failed_releases_are_retried_ten_times_unless_the_binding_says_otherwise() -> None:
    assert parse_bindings(minimal(), Path("b.yaml")).bindings[0].release.retries == 10
    for retries in (-1, 0, 3):
        parsed = parse_bindings(minimal(release={"retries": retries}), Path("b.yaml"))
        assert parsed.bindings[0].release.retries == retries


def test_release_history_is_bounded_to_ten_revisions_unless_the_binding_says_otherwise() -> None:
    assert parse_bindings(minimal(), Path("b.yaml")).bindings[0].release.max_history == 10
    for kept in (0, 1, 25):
        parsed = parse_bindings(minimal(release={"maxHistory": kept}), Path("b.yaml"))
        assert parsed.bindings[0].release.max_history == kept


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], "expected a mapping"),
        ({"bindings": []}, "bindings: must be a non-empty list"),
        ({"apiVersion": "v2", "bindings": [minimal()["bindings"][0]]}, "apiVersion: 'v2' is not"),
        (minimal(kind="site"), "bindings[0] (site).kind: 'site' is not a CamelCase kind"),
        (minimal(group="Hosting"), ".group: 'Hosting' is not a DNS subdomain"),
        (minimal(version="1"), ".version: '1' is not a version such as v1"),
        (minimal(plural=None), "bindings[0] (site).plural: None must be a string"),
        (minimal(chart={"path": "x", "verify": True}), "chart.verify: unknown field"),
        (minimal(release={"name": "{namespace}"}), "must use {name}"),
        (minimal(release={"name": "{name}-{nope}"}), "must use {name}"),
        # a format spec could cut two names into one: {name:.5} gives blog1 and blog12 "blog1"
        (minimal(release={"name": "{name:.5}"}), "'{name:.5}' is not a release name template"),
        (minimal(release={"name": "{name}-{name!s:>60}"}), "{name!s:>60} formats a field"),
        (minimal(release={"name": "{namespace:.3}-{name}"}), "{namespace:.3} formats a field"),
        (minimal(concurrency=0), "concurrency: 0 must be at least 1"),
        (minimal(release={"adopt": "yes"}), "release.adopt: 'yes' must be true or false"),
        (minimal(release={"adpot": True}), "release.adpot: unknown field (did you mean adopt?)"),
        (minimal(release={"retries": -2}), "release.retries: -2 must be at least -1"),
        (minimal(release={"retries": "3"}), "release.retries: '3' must be an integer"),
        (minimal(release={"retries": True}), "release.retries: True must be an integer"),
        (minimal(release={"maxHistory": -1}), "release.maxHistory: -1 must be at least 0"),
        (minimal(release={"maxHistory": "10"}), "release.maxHistory: '10' must be an integer"),
        (minimal(release={"maxHistory": False}), "release.maxHistory: False must be an integer"),
        (minimal(colour="blue"), "bindings[0] (site).colour: unknown field (known: admission,"),
        (
            {
                "bindings": [
                    minimal(name="site")["bindings"][0],
                    minimal(name="site", kind="Shop")["bindings"][0],
                ]
            },
            "binding name 'site' is used twice",
        ),
    ],
)
def test_one_mistake_is_reported_in_one_line(document: object, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_bindings(document, Path("bindings.yaml"))
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("bindings.yaml: ")


def test_every_mistake_is_reported_at_once_with_its_path_and_the_key_meant() -> None:
    document = minimal(releese={"name": "{name}"}, concurency=2, plural="Sites")
    document["bindings"].append(
        {**minimal()["bindings"][0], "kind": "Shop", "plural": "shops", "chart": {"path": ""}}
    )
    document["bindings"][1]["rollout"] = {"maxFailureRatio": 2}
    with pytest.raises(ConfigError) as raised:
        parse_bindings(document, Path("lostromos.yaml"))
    assert str(raised.value).splitlines() == [
        "lostromos.yaml: 5 problems:",
        "  bindings[0] (site).concurency: unknown field (did you mean concurrency?)",
        "  bindings[0] (site).plural: 'Sites' is not a lowercase DNS label",
        "  bindings[0] (site).releese: unknown field (did you mean release?)",
        "  bindings[1] (shop).chart.path: must not be empty",
        "  bindings[1] (shop).rollout.maxFailureRatio: 2 must be at most 1",
    ]
    assert len(raised.value.problems) == 5


def test_sensitive_paths_and_release_names_of_every_binding_are_reported_together() -> None:
    document = minimal(sensitivePaths=["db..password"], release={"name": "{name}-{nope}"})
    with pytest.raises(ConfigError) as raised:
        parse_bindings(document, Path("b.yaml"))
    problems = raised.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("bindings[0] (site).release.name: '{name}-{nope}' must use")
    assert "sensitivePaths: 'db..password' is not a values path" in problems[1]


def test_unreadable_files_say_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_bindings(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("bindings:\n  - kind: Site\n   group: x\n")
    with pytest.raises(ConfigError, match=r"line 3, column 4"):
        load_bindings(broken)


def test_repository_chart_digest_and_insecure_skip_digest() -> None:
    chart = {"repository": "https://charts.example.com", "name": "web", "version": "1.0.0"}
    digest = "AB" * 32
    pinned = (
        parse_bindings(minimal(chart={**chart, "digest": f"sha256:{digest}"}), Path("b.yaml"))
        .bindings[0]
        .chart
    )
    assert (pinned.digest, pinned.insecure_skip_digest) == (digest.lower(), False)
    skip = (
        parse_bindings(minimal(chart={**chart, "insecureSkipDigest": True}), Path("b.yaml"))
        .bindings[0]
        .chart
    )
    assert (skip.digest, skip.insecure_skip_digest) == (None, True)
    with pytest.raises(ConfigError, match=r"chart\.digest: 'abc' is not a sha256 digest"):
        parse_bindings(minimal(chart={**chart, "digest": "abc"}), Path("b.yaml"))
    with pytest.raises(ConfigError, match=r"chart\.verify: unknown field"):
        parse_bindings(minimal(chart={**chart, "verify": True}), Path("b.yaml"))


def test_chart_access_for_oci_registries_and_repositories() -> None:
    chart = {
        "repository": "oci://registry.example.com/charts",
        "name": "web",
        "version": "1.0.0",
        "plainHTTP": True,
        "usernameFile": "secrets/user",
        "passwordFile": "/etc/repo/password",
        "keyring": "keys/pubring.gpg",
    }
    ref = parse_bindings(minimal(chart=chart), Path("/etc/lostromos/b.yaml")).bindings[0].chart
    assert ref.is_oci
    assert ref.access.plain_http and not ref.access.insecure_skip_tls_verify
    assert ref.access.username_file == Path("/etc/lostromos/secrets/user")
    assert ref.access.password_file == Path("/etc/repo/password")
    assert ref.access.keyring == Path("/etc/lostromos/keys/pubring.gpg")
    with pytest.raises(ConfigError, match=r"chart\.plainHTTP: 'yes' must be true or false"):
        parse_bindings(minimal(chart={**chart, "plainHTTP": "yes"}), Path("b.yaml"))
    with pytest.raises(ConfigError, match=r"chart\.caFile: 3 must be a string"):
        parse_bindings(minimal(chart={**chart, "caFile": 3}), Path("b.yaml"))
    with pytest.raises(ConfigError, match=r"is not an http\(s\):// chart repository or an oci://"):
        parse_bindings(minimal(chart={**chart, "repository": "ftp://x"}), Path("b.yaml"))


def test_sensitive_paths() -> None:
    binding = parse_bindings(
        minimal(sensitivePaths=["db.password", "users[*].token"]), Path("b.yaml")
    ).bindings[0]
    assert binding.sensitive_paths == ("db.password", "users[*].token")
    with pytest.raises(ConfigError, match=r"sensitivePaths: 'db\.\.password' is not a values path"):
        parse_bindings(minimal(sensitivePaths=["db..password"]), Path("b.yaml"))


def test_the_operator_chart_checks_bindings_with_the_bindings_files_own_schema() -> None:
    """`helm install` must never refuse a binding the controller reads, nor pass one it
    refuses: the chart's values schema carries the bindings schema's definitions as they
    are (plus its own rule that a chart directory is an absolute path in the image)."""
    from lostromos.configschema import bindings_schema

    shared = bindings_schema()
    chart = json.loads((ROOT / "charts/lostromos/values.schema.json").read_text())
    for name, definition in shared["definitions"].items():
        assert chart["definitions"][name] == definition, name
    assert (
        chart["properties"]["bindings"]["items"]["allOf"][0]
        == shared["properties"]["bindings"]["items"]
    )


def test_a_typo_in_the_operator_charts_values_is_refused_by_helm_as_by_the_controller(
    tmp_path: Path, helm_binary: Path
) -> None:
    """The same definitions, read by Helm's own validator (`helm lint` on the chart)."""
    import subprocess

    import yaml

    helm = helm_binary
    values = tmp_path / "values.yaml"
    entry = {**minimal()["bindings"][0], "chart": "/charts/site", "releese": {"name": "{name}"}}
    values.write_text(yaml.safe_dump({"bindings": [entry]}))
    linted = subprocess.run(
        [str(helm), "lint", str(ROOT / "charts/lostromos"), "-f", str(values)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert linted.returncode != 0
    assert "releese" in linted.stdout + linted.stderr
    with pytest.raises(ConfigError, match=r"releese: unknown field \(did you mean release\?\)"):
        parse_bindings({"bindings": [entry]}, Path("b.yaml"))


def test_render_budget_defaults_and_limits() -> None:
    default = parse_bindings(minimal(), Path("b.yaml")).bindings[0].render_budget
    assert (default.seconds, default.output_bytes) == (5.0, 10 * 1024 * 1024)
    chosen = parse_bindings(
        minimal(renderBudget={"seconds": 2.5, "outputBytes": 1024}), Path("b.yaml")
    ).bindings[0]
    assert (chosen.render_budget.seconds, chosen.render_budget.output_bytes) == (2.5, 1024)
    for wrong, message in [
        ({"seconds": 0}, r"renderBudget\.seconds: 0 "),
        ({"seconds": "5s"}, r"renderBudget\.seconds: '5s' "),
        ({"outputBytes": -1}, r"renderBudget\.outputBytes: -1 "),
        ({"memory": 1}, r"renderBudget\.memory: unknown field"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_bindings(minimal(renderBudget=wrong), Path("b.yaml"))


def test_the_deployer_is_helm_unless_the_binding_says_applyset() -> None:
    assert parse_bindings(minimal(), Path("b.yaml")).bindings[0].deployer == "helm"
    applyset = parse_bindings(minimal(deployer="applyset"), Path("b.yaml"))
    assert applyset.bindings[0].deployer == "applyset"
    with pytest.raises(ConfigError, match=r"deployer") as raised:
        parse_bindings(minimal(deployer="kubectl"), Path("b.yaml"))
    assert "'kubectl'" in str(raised.value)
