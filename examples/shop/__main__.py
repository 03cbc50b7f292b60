"""`python -m examples.shop --host 127.0.0.1 --port 8000`: run the demo shop under uvicorn.

Rule: the first stdout line is `shop listening on http://HOST:PORT` with the
port actually bound (so `--port 0` is usable by scripts and tests).
"""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn

from .app import create_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.shop", description="Run the Tailor demo shop.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--no-customer-header", action="store_true", help="do not send X-Tailor-Customer")
    args = parser.parse_args(argv)

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"shop: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    sock.listen(1024)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    print(f"shop listening on http://{host}:{port}", flush=True)

    app = create_app(customer_header=None if args.no_customer_header else "X-Tailor-Customer")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, ws="none", lifespan="off"))
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
