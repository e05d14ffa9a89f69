"""dev up's readiness probe: what proves the API server reached the webhook."""

from __future__ import annotations

import pytest

from lostromos.dev.cluster import _webhook_answered


@pytest.mark.parametrize(
    ("stderr", "answered"),
    [
        (
            'Error from server: admission webhook "validation.lostromos.dev" denied the request: x',
            True,
        ),
        # a full-mode CRD refuses the probe's empty spec after /mutate answered
        ('The Site "lostromos-readiness-probe" is invalid: spec.domain: Required value', True),
        (
            'Internal error occurred: failed calling webhook "defaulting.lostromos.dev": connection '  # noqa: E501
            "refused",
            False,
        ),
        ('error: the server doesn\'t have a resource type "sites"', False),
    ],
)
def test_a_schema_refusal_proves_the_webhook_answered(stderr: str, answered: bool) -> None:
    assert _webhook_answered(stderr) is answered
