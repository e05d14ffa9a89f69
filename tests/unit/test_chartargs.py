"""Chart arguments on the command line: a directory, an OCI reference, a repository chart."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lostromos.authoring.chartargs import chart_ref
from lostromos.charts import ChartError

DIGEST = "ab" * 32


def flags(**given: object) -> argparse.Namespace:
    return argparse.Namespace(
        **{"repo": None, "plain_http": False, "insecure_skip_digest": False, **given}
    )


def test_a_directory_stays_a_directory() -> None:
    assert chart_ref("charts/site", flags()).path == Path("charts/site")
    # with no --repo a NAME:VERSION-looking argument is still a path
    assert chart_ref("site:1.0.0", flags()).path == Path("site:1.0.0")


def test_an_oci_reference_with_tag_and_digest() -> None:
    ref = chart_ref(f"oci://registry.example.com/charts/site:1.4.0@sha256:{DIGEST}", flags())
    assert (ref.repository, ref.name, ref.version, ref.digest) == (
        "oci://registry.example.com/charts",
        "site",
        "1.4.0",
        DIGEST,
    )
    tagged = chart_ref("oci://r.example.com/site:2.0.0", flags(plain_http=True))
    assert (tagged.digest, tagged.access.plain_http) == (None, True)


@pytest.mark.parametrize(
    "argument",
    ["oci://r.example.com/charts/site", "oci://site:1.0.0", "oci://r/x/site:1@sha256:12"],
)
def test_a_malformed_oci_reference_is_one_clear_error(argument: str) -> None:
    with pytest.raises(ChartError, match=r"an OCI chart is oci://HOST/PATH/NAME:VERSION"):
        chart_ref(argument, flags())


def test_a_repository_chart_by_name_and_version() -> None:
    ref = chart_ref(
        "site:1.0.0", flags(repo="https://charts.example.com", insecure_skip_digest=True)
    )
    assert (ref.repository, ref.name, ref.version, ref.insecure_skip_digest) == (
        "https://charts.example.com",
        "site",
        "1.0.0",
        True,
    )
