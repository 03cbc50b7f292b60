"""`tailor`: serve, demo, check, report, events export.

Rule: the CLI turns flags into Settings once (load_settings) and hands them
to the app; config errors are printed as `file:line: message` with exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
from pathlib import Path

from proxy.errors import ConfigError
from proxy.settings import Settings, load_settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tailor", description="Website personalization edge proxy.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run Tailor in front of an origin")
    _serve_flags(serve)
    serve.add_argument("--workers", type=int, default=None, help="worker processes (default 1)")

    demo = sub.add_parser("demo", help="run the demo shop with Tailor in front of it")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--config", default=str(EXAMPLES / "tailor.toml"))
    demo.add_argument("--data-dir", default=None)

    check = sub.add_parser("check", help="validate a tailor.toml")
    check.add_argument("config")

    rep = sub.add_parser("report", help="experiment results from the event journal")
    rep.add_argument("--config", default=None)
    rep.add_argument("--data-dir", default=None)
    rep.add_argument("--json", action="store_true")

    events = sub.add_parser("events", help="event journal tools")
    esub = events.add_subparsers(dest="events_command", required=True)
    export = esub.add_parser("export", help="write every journaled event as NDJSON")
    export.add_argument("--config", default=None)
    export.add_argument("--data-dir", default=None)
    export.add_argument("--out", default="-")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "aiohttp.access"):  # one line per upstream request: costly and useless
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "check":
            settings = load_settings(args.config)
            print(f"{args.config}: ok ({len(settings.personas)} personas, {len(settings.segments)} segments, "
                  f"{len(settings.slots)} slots with rules, {len(settings.experiments)} experiments)")
            return 0
        if args.command == "report":
            return _report(args)
        if args.command == "events":
            return _export(args)
    except ConfigError as exc:
        print(f"tailor: {exc}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover


def _serve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--origin", default=None, help="the site Tailor sits in front of, e.g. http://127.0.0.1:8000")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--config", default=None, help="tailor.toml")
    p.add_argument("--data-dir", default=None, help="journal, profiles and generated secret (default tailor-data)")


def _overrides(args: argparse.Namespace) -> dict:
    keys = ("origin", "host", "port", "workers", "data_dir")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    overrides = _overrides(args)
    settings = load_settings(args.config, **overrides)
    if not settings.proxy.origin:
        raise ConfigError("no origin: pass --origin URL or set [proxy] origin", file=settings.source)
    p = settings.proxy
    from proxy.server_protocol import HeaderDeadlineProtocol, set_client_timeouts

    set_client_timeouts(p.client_header_timeout, p.client_body_timeout)
    common = dict(host=p.host, port=p.port, proxy_headers=False, server_header=False, date_header=False,
                  http=HeaderDeadlineProtocol, loop="uvloop", log_level="warning", lifespan="on")
    print(f"tailor: serving http://{p.host}:{p.port}/ in front of {p.origin}", flush=True)
    if p.workers > 1:
        os.environ["TAILOR_SETTINGS"] = json.dumps({"config": args.config, "overrides": overrides})
        uvicorn.run("proxy.app:app_from_environment", factory=True, workers=p.workers, **common)
    else:
        from proxy.app import create_app

        uvicorn.run(create_app(settings), **common)
    return 0


def _demo(args: argparse.Namespace) -> int:
    import uvicorn

    from examples.shop.app import create_app as create_shop
    from proxy.app import create_app

    shop_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY needs proto set
    shop_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    shop_sock.bind(("127.0.0.1", 0))
    shop_url = f"http://127.0.0.1:{shop_sock.getsockname()[1]}"
    overrides = {"origin": shop_url, "host": args.host, "port": args.port}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    settings = load_settings(args.config, **overrides)
    from proxy.server_protocol import HeaderDeadlineProtocol, set_client_timeouts

    set_client_timeouts(settings.proxy.client_header_timeout, settings.proxy.client_body_timeout)
    tailor = uvicorn.Server(uvicorn.Config(create_app(settings), host=args.host, port=args.port, log_level="warning",
                                           http=HeaderDeadlineProtocol, lifespan="on", server_header=False, proxy_headers=False,
                                           date_header=False))
    shop = uvicorn.Server(uvicorn.Config(create_shop(), log_level="warning", lifespan="on"))

    async def run() -> None:
        print(f"demo shop (the origin) on {shop_url}", flush=True)
        print(f"Tailor demo: open http://{args.host}:{args.port}/  (Ctrl-C stops)", flush=True)
        await asyncio.gather(shop.serve(sockets=[shop_sock]), tailor.serve())

    asyncio.run(run())
    return 0


def _offline_settings(args: argparse.Namespace) -> Settings:
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    return load_settings(args.config, **overrides)


def _report(args: argparse.Namespace) -> int:
    import msgspec

    from proxy import report
    from proxy.profile_store import ProfileStore

    settings = _offline_settings(args)

    async def load():
        store = await ProfileStore.open(settings)
        try:
            return report.compute(store.iter_events(), settings)
        finally:
            await store.close()

    rep = asyncio.run(load())
    if args.json:
        sys.stdout.write(msgspec.json.encode(rep).decode() + "\n")
    else:
        sys.stdout.write(report.format_report(rep))
    return 0


def _export(args: argparse.Namespace) -> int:
    from proxy.profile_store import ProfileStore

    settings = _offline_settings(args)

    async def run(out) -> int:
        store = await ProfileStore.open(settings)
        try:
            return store.export_ndjson(out)
        finally:
            await store.close()

    if args.out == "-":
        n = asyncio.run(run(sys.stdout))
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            n = asyncio.run(run(fh))
    print(f"tailor: exported {n} events", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
