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
        ({"bindings": []}, "non-empty list"),
        ({"apiVersion": "v2", "bindings": [{}]}, "apiVersion"),
        (minimal(kind="site"), "kind 'site' is not a CamelCase kind"),
        (minimal(group="Hosting"), "group 'Hosting' is not a DNS subdomain"),
        (minimal(version="1"), "version '1' is not a version"),
        (minimal(plural=None), "plural None"),
        (minimal(chart={"repository": "http://x"}), "missing name, version"),
        (minimal(release={"name": "{namespace}"}), "must use {name}"),
        (minimal(release={"name": "{name}-{nope}"}), "must use {name}"),
        (minimal(concurrency=0), "concurrency 0 must be a positive integer"),
        (minimal(release={"adopt": "yes"}), "release.adopt 'yes' must be true or false"),
        (minimal(release={"adpot": True}), "unknown field(s) release.adpot"),
        (minimal(release={"retries": -2}), "release.retries -2 must be -1 (retry forever)"),
        (minimal(release={"retries": "3"}), "release.retries '3' must be -1"),
        (minimal(release={"retries": True}), "release.retries True must be -1"),
        (minimal(release={"maxHistory": -1}), "release.maxHistory -1 must be 0 (keep every"),
        (minimal(release={"maxHistory": "10"}), "release.maxHistory '10' must be 0"),
        (minimal(release={"maxHistory": False}), "release.maxHistory False must be 0"),
        (minimal(colour="blue"), "unknown field(s) colour"),
        ({"bindings": [minimal()["bindings"][0]] * 2}, "used twice"),
    ],
)
def test_mistakes_are_reported_in_one_line(document: object, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_bindings(document, Path("bindings.yaml"))
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("bindings.yaml")


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
    with pytest.raises(ConfigError, match=r"chart\.digest 'abc' is not a sha256 digest"):
        parse_bindings(minimal(chart={**chart, "digest": "abc"}), Path("b.yaml"))
    with pytest.raises(ConfigError, match=r"chart: unknown field\(s\) verify"):
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
    with pytest.raises(ConfigError, match=r"chart\.plainHTTP must be true or false"):
        parse_bindings(minimal(chart={**chart, "plainHTTP": "yes"}), Path("b.yaml"))
    with pytest.raises(ConfigError, match=r"chart\.caFile must be a file path"):
        parse_bindings(minimal(chart={**chart, "caFile": 3}), Path("b.yaml"))
    with pytest.raises(ConfigError, match=r"must be an http\(s\):// chart repository or an oci://"):
        parse_bindings(minimal(chart={**chart, "repository": "ftp://x"}), Path("b.yaml"))


def test_sensitive_paths() -> None:
    binding = parse_bindings(
        minimal(sensitivePaths=["db.password", "users[*].token"]), Path("b.yaml")
    ).bindings[0]
    assert binding.sensitive_paths == ("db.password", "users[*].token")
    with pytest.raises(ConfigError, match=r"sensitivePaths: 'db\.\.password' is not a values path"):
        parse_bindings(minimal(sensitivePaths=["db..password"]), Path("b.yaml"))


def test_the_operator_charts_schema_accepts_every_bindings_key_and_no_other() -> None:
    """`helm install` must never refuse a binding the controller reads, nor pass one it refuses."""
    from lostromos import config

    schema = json.loads((ROOT / "charts/lostromos/values.schema.json").read_text())
    binding = schema["definitions"]["binding"]["properties"]
    repository_chart = binding["chart"]["oneOf"][2]["properties"]
    assert set(binding) == config.BINDING_KEYS
    assert set(repository_chart) | {"path"} == config.CHART_KEYS
    assert set(binding["release"]["properties"]) == config.RELEASE_KEYS
    assert set(binding["selector"]["properties"]) == config.SELECTOR_KEYS
    assert set(binding["rollout"]["properties"]) == config.ROLLOUT_KEYS
    assert set(binding["admission"]["properties"]) == config.ADMISSION_KEYS
