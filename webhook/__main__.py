"""`python -m webhook`: serve the admission webhook (the same as `lostromos webhook`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lostromos.logs import LOG_FORMATS
from webhook.server import ServeOptions, serve


def parse_options(argv: Sequence[str]) -> ServeOptions:
    parser = argparse.ArgumentParser(prog="python -m webhook",
                                     description="Serve the lostromos admission webhook over TLS.")
    parser.add_argument("--config", type=Path, default=Path("lostromos.yaml"),
                        help="bindings file (default: ./lostromos.yaml)")
    parser.add_argument("--bind", default="127.0.0.1:8443")
    parser.add_argument("--tls-cert", type=Path, required=True)
    parser.add_argument("--tls-key", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        default="info")
    parser.add_argument("--access-log", action="store_true",
                        help="log one line per request (off by default)")
    parser.add_argument("--max-body-bytes", type=int, default=3 * 1024 * 1024)
    parser.add_argument("--graceful-timeout", type=int, default=20)
    parser.add_argument("--helm-engine", type=Path, default=None,
                        help="Helm engine binary for render checks (default: the toolchain "
                             "build, then lostromos-helm-engine on PATH)")
    args = parser.parse_args(argv)
    return ServeOptions(
        bindings_path=args.config, bind=args.bind, certfile=args.tls_cert, keyfile=args.tls_key,
        workers=args.workers, threads=args.threads, log_format=args.log_format,
        log_level=args.log_level, access_log=args.access_log,
        max_body_bytes=args.max_body_bytes, graceful_timeout=args.graceful_timeout,
        helm_engine=args.helm_engine,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return serve(parse_options(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
