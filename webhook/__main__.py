"""`python -m webhook`: the same command as `lostromos webhook` (one parser, one set of flags)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lostromos.cli import main as lostromos_main


def main(argv: Sequence[str] | None = None) -> int:
    return lostromos_main(["webhook", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
