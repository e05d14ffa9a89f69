"""Release names (lostromos.releases): from the binding's template and metadata, by Helm's rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from lostromos.config import Binding, parse_bindings
from lostromos.releases import (
    MAX_RELEASE_NAME,
    release_name,
    release_name_denial,
    release_name_problem,
)


def binding(template: str = "{name}") -> Binding:
    document = {
        "apiVersion": "lostromos.dev/v1alpha1",
        "kind": "Bindings",
        "bindings": [
            {
                "group": "hosting.example.com",
                "version": "v1",
                "kind": "Site",
                "plural": "sites",
                "chart": {"path": "charts/site"},
                "release": {"name": template},
            }
        ],
    }
    return parse_bindings(document, Path("/nonexistent/lostromos.yaml")).bindings[0]


def test_release_name_comes_from_metadata_and_the_template_only() -> None:
    metadata = {"name": "blog", "namespace": "team-a"}
    assert release_name(binding(), metadata) == "blog"
    assert release_name(binding("{kind}-{namespace}-{name}"), metadata) == "site-team-a-blog"


# Helm v4.3.1 pkg/chart/v2/util/validate_name_test.go, TestValidateReleaseName
HELM_NAMES = {
    "": False,
    "foo": True,
    "foo.bar1234baz.seventyone": True,
    "FOO": False,
    "123baz": True,
    "foo.BAR.baz": False,
    "one-two": True,
    "-two": False,
    "one_two": False,
    "a..b": False,
    "%^&#$%*@^*@&#^": False,
    "example:com": False,
    "example%%com": False,
    "a1111111111111111111111111111111111111111111111111111111111z": False,
}


@pytest.mark.parametrize(("name", "helm_accepts"), HELM_NAMES.items())
def test_helm_release_name_rule(name: str, helm_accepts: bool) -> None:
    assert (release_name_problem(name) is None) is helm_accepts


def test_length_limit_is_helms_53() -> None:
    assert release_name_problem("a" * MAX_RELEASE_NAME) is None
    assert release_name_problem("a" * 54) == "is 54 characters; Helm allows at most 53"


def test_a_final_newline_is_not_a_valid_name() -> None:
    # Python's `$` matches before a final newline; Go's (Helm's) does not
    assert release_name_problem("blog\n") is not None


def test_denial_names_the_name_the_template_and_the_rule() -> None:
    metadata = {"name": "b" * 50, "namespace": "team-a"}
    assert release_name_denial(binding("wp-{name}"), metadata) is None  # 53: allowed
    assert release_name_denial(binding("wpx-{name}"), metadata) == (
        f'metadata.name: release name "wpx-{"b" * 50}" (from template "wpx-{{name}}") '
        "is 54 characters; Helm allows at most 53"
    )
    assert release_name_denial(binding(), metadata) is None
