"""A command handler whose module is imported only when the command runs.

The whole `lostromos` parser is built for every call (`--help`, completions,
`version`), so what registers a command must import no more than argparse: a
handler from a module that pulls in the Kubernetes client or cryptography is
named here and imported on first use.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


def lazy_handler(module: str, name: str) -> Handler:
    """`module.name(args)`, importing `module` when the command is run."""

    def run(args: argparse.Namespace) -> int:
        handler: Handler = getattr(importlib.import_module(module), name)
        return handler(args)

    run.__qualname__ = run.__name__ = f"{module}.{name}"
    return run
