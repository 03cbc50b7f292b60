"""A real origin for the proxy tests: pages, echoes, streams, redirects, bombs."""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import threading
import zlib

import brotli
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

PAGE = (
    b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Origin page</title></head>\n"
    b"<body><h1>Hello \xc3\xa9</h1><p>" + b"lorem ipsum " * 400 + b"</p></body></html>\n"
)


@functools.cache
def bomb() -> bytes:
    """64 MB of HTML in ~64 KB of gzip."""
    return gzip.compress(b"<html><head></head><body>" + b"A" * (64 * 1024 * 1024), compresslevel=6)


class Origin:
    """State the tests can look at: every request seen, and a gate for streaming."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.gate = threading.Event()
        bomb()
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])])

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        raw_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]
        record = {"path": path, "method": request.method, "headers": raw_headers, "query": request.url.query}
        self.seen.append(record)
        html = {"content-type": "text/html; charset=utf-8"}
        if path == "/page":
            return Response(PAGE, headers={**html, "etag": '"v1"', "cache-control": "public, max-age=60", "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT"})
        if path == "/page.gz":
            return Response(gzip.compress(PAGE), headers={**html, "content-encoding": "gzip", "vary": "Accept-Encoding"})
        if path == "/page.br":
            return Response(brotli.compress(PAGE), headers={**html, "content-encoding": "br"})
        if path == "/csp-nonce":
            policy = "default-src 'self'; script-src 'nonce-r4nd0mN0nce+/=' 'strict-dynamic'; object-src 'none'"
            return Response(PAGE, headers={**html, "content-security-policy": policy})
        if path == "/csp-meta":
            # The policy in the page itself, as static-site generators and some CMS plugins write it.
            policy = b"default-src 'self'; script-src 'nonce-m3taN0nce' 'strict-dynamic'; object-src 'none'"
            body = PAGE.replace(b"<title>", b'<meta http-equiv="Content-Security-Policy" content="' + policy + b'"><title>')
            return Response(body, headers=html)
        if path == "/csp-self":
            return Response(PAGE, headers={**html, "content-security-policy": "default-src 'self'"})
        if path == "/page.zst":
            import zstandard

            return Response(zstandard.ZstdCompressor().compress(PAGE), headers={**html, "content-encoding": "zstd"})
        if path == "/page.deflate":
            return Response(zlib.compress(PAGE), headers={**html, "content-encoding": "deflate"})
        if path == "/page.bad-gzip":
            return Response(b"\x1f\x8b\x08\x00garbage-not-gzip", headers={**html, "content-encoding": "gzip"})
        if path == "/bomb":
            return Response(bomb(), headers={**html, "content-encoding": "gzip"})
        if path == "/nohead":
            return Response(b"<html><body><p>no head here</p></body></html>", headers=html)
        if path == "/huge-html":
            chunk = b"<p>" + b"x" * 1020 + b"</p>"
            async def huge():
                yield b"<html><head><title>big</title></head><body>"
                for _ in range(6 * 1024):  # ~6 MB, above the 4 MB default cap
                    yield chunk
                yield b"</body></html>"
            return StreamingResponse(huge(), headers=html)
        if path == "/error-html":
            return Response(PAGE, status_code=500, headers=html)
        if path == "/echo":
            body = await request.body()
            return JSONResponse({**record, "body_len": len(body), "body_sha": hashlib.sha256(body).hexdigest()})
        if path == "/gated":
            async def gated():
                yield b"first-chunk;"
                while not self.gate.is_set():
                    await asyncio.sleep(0.01)
                yield b"rest"
            return StreamingResponse(gated(), media_type="application/octet-stream")
        if path == "/big":
            size = int(request.query_params.get("mb", "20")) * 1024 * 1024
            block = b"\x00" * 65536
            async def big():
                for _ in range(size // 65536):
                    yield block
            return StreamingResponse(big(), media_type="application/octet-stream", headers={"content-length": str(size)})
        if path == "/redirect-self":
            host = request.headers["host"]
            return Response(status_code=302, headers={"location": f"http://{host}/target?a=1"})
        if path == "/redirect-away":
            return Response(status_code=302, headers={"location": "https://example.org/elsewhere"})
        if path == "/cookies":
            resp = Response(PAGE, headers=html)
            resp.set_cookie("session", "abc123", httponly=True, samesite="lax")
            resp.set_cookie("csrftoken", "tok456", samesite="strict")
            return resp
        if path == "/asset.css":
            etag = '"css-1"'
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers={"etag": etag})
            return Response(b"body{color:red}", media_type="text/css", headers={"etag": etag})
        if path == "/conn-header":
            return Response(b"ok", headers={"connection": "X-Private-Hop", "x-private-hop": "secret", "keep-alive": "timeout=5"})
        if path == "/slow":
            await asyncio.sleep(float(request.query_params.get("s", "3")))
            return Response(b"late")
        if path == "/sse":
            async def events():
                for i in range(3):
                    yield f"data: {i}\n\n".encode()
                    await asyncio.sleep(0.05)
            return StreamingResponse(events(), media_type="text/event-stream")
        if path == "/range":
            data = bytes(range(256)) * 4
            rng = request.headers.get("range", "")
            if rng.startswith("bytes="):
                a, b = rng[6:].split("-")
                part = data[int(a) : int(b) + 1]
                return Response(part, status_code=206, media_type="text/html", headers={"content-range": f"bytes {a}-{b}/{len(data)}"})
            return Response(data, media_type="text/html")
        if path == "/customer":
            return Response(PAGE, headers={**html, "x-tailor-customer": "cust-42"})
        if path == "/cacheable-shop":
            items = "".join(
                f'<article data-item="{i}" data-tags="{t}" data-title="{i}">{i}</article>'
                for i, t in (("tent", "camping"), ("boots", "hiking"), ("rope", "climbing"), ("bike", "cycling"))
            )
            body = f'<!doctype html><html><head><title>shop</title></head><body><div data-slot="hero" data-slot-type="carousel">{items}</div></body></html>'
            return Response(body.encode(), headers={**html, "cache-control": "public, max-age=300"})
        if path == "/export.html":
            return Response(PAGE, headers={**html, "content-disposition": 'attachment; filename="export.html"'})
        if path == "/variant-page":
            v = request.query_params.get("v", "a")
            first, second = ("tent", "rope") if v == "a" else ("rope", "tent")
            body = (f'<html><head><title>{v}</title></head><body><div data-slot="hero" data-slot-type="carousel">'
                    f'<p data-item="{first}">{first}</p><p data-item="{second}">{second}</p></div></body></html>')
            return Response(body.encode(), headers=html)
        if path == "/form":
            # A form shown again with its errors: 200 text/html answering a POST, with a slot.
            body = await request.body()
            fields = dict(pair.split("=", 1) for pair in body.decode().split("&") if "=" in pair)
            errors = "<p class=error>email is required</p>" if not fields.get("email") else ""
            html_body = (f'<!doctype html><html><head><title>form</title></head><body>{errors}'
                         f'<div data-slot="hero" data-slot-type="carousel"><p data-item="tent">tent</p><p data-item="rope">rope</p></div>'
                         f'<form method=post><input name=email value="{fields.get("email", "")}"></form></body></html>')
            return Response(html_body.encode(), headers={**html, "etag": '"form-1"'})
        if path == "/csrf-page":
            # A CMS page: the same bytes every time but for a token per response (in the head and in a form).
            token = hashlib.sha256(str(len(self.seen)).encode()).hexdigest()[:40]
            filler = b"<p>" + b"lorem ipsum " * 80 + b"</p>"
            body = (b'<!doctype html><html><head><meta charset="utf-8"><title>csrf</title>'
                    b'<meta name="csrf-token" content="' + token.encode() + b'"></head><body>' + filler * 4
                    + b'<form method="post"><input type="hidden" name="csrf" value="' + token.encode() + b'"></form>'
                    + filler * 4 + b'<div data-slot="hero" data-slot-type="carousel">'
                    b'<p data-item="tent">tent</p><p data-item="rope">rope</p></div>' + filler + b"</body></html>")
            return Response(body, headers=html)
        if path == "/same-key-page":
            # Long pages of equal length that differ only at one byte far from their start, middle and end.
            v = request.query_params.get("v", "a")
            filler = b"<p>" + b"x" * 996 + b"</p>"
            body = (b"<!doctype html><html><head><title>same</title></head><body>" + filler * 3
                    + b"<p>" + v.encode()[:1] + b"</p>" + filler * 30 + b"</body></html>")
            return Response(body, headers=html)
        if path == "/utf16":
            body = "\ufeff<html><head><title>wide</title></head><body>wide</body></html>".encode("utf-16-le")
            return Response(body, headers={"content-type": "text/html; charset=utf-16"})
        if path == "/sjis":
            body = "<html><head><meta charset=\"shift_jis\"><title>日本語</title></head><body>表示</body></html>".encode("shift_jis")
            return Response(body, headers={"content-type": "text/html; charset=Shift_JIS"})
        if path == "/latin1":
            body = b"<html><head><meta charset=\"windows-1252\"><title>caf\xe9</title></head><body>caf\xe9</body></html>"
            return Response(body, headers={"content-type": "text/html; charset=windows-1252"})
        return Response(b"not here", status_code=404)
