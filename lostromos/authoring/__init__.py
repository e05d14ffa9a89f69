"""Tools for chart authors: infer, lint and diff a chart's values.schema.json,
generate the CRD it implies, and check objects against a chart offline or
against what a cluster already stores."""

from __future__ import annotations


class AuthoringError(Exception):
    """Bad input to an authoring command: one line naming the file or object and the problem."""
