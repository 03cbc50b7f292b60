"""Tailor's own small responses (errors, health), written straight to ASGI `send`.

Rule: error pages are short, say what happened in words a visitor
understands, and never leak internals (no exception text, no origin address).
"""

from __future__ import annotations

import time
from email.utils import formatdate

from proxy.headers import Headers

_date_cache: list = [0, b""]


def http_date() -> bytes:
    """The current IMF-fixdate, formatted at most once a second.

    uvicorn runs with date_header=False under Tailor so forwarded responses
    keep the origin's own Date instead of carrying two.
    """
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True).encode()
    return _date_cache[1]

_PAGE = (
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>{status} {title}</title>"
    "<meta name=\"viewport\" content=\"width=device-width\"></head>"
    "<body style=\"font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em\">"
    "<h1>{title}</h1><p>{text}</p></body></html>"
)

TEXTS = {
    400: ("Bad request", "The request could not be understood."),
    401: ("Unauthorized", "This needs Tailor's admin secret."),
    403: ("Forbidden", "This request is not allowed."),
    404: ("Not found", "There is nothing here."),
    405: ("Method not allowed", "This method is not supported here."),
    413: ("Too large", "The request body is too large."),
    429: ("Too many requests", "Please slow down and try again shortly."),
    502: ("Bad gateway", "The site is not reachable right now. Please try again in a moment."),
    503: ("Unavailable", "The service is busy. Please try again in a moment."),
    504: ("Gateway timeout", "The site took too long to answer. Please try again in a moment."),
}


async def send_bytes(send, status: int, body: bytes, headers: Headers, *, head: bool = False) -> None:
    hdrs = [*headers, (b"content-length", str(len(body)).encode()), (b"date", http_date())]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_error(send, status: int, *, extra: Headers = (), head: bool = False) -> None:
    title, text = TEXTS.get(status, ("Error", "Something went wrong."))
    body = _PAGE.format(status=status, title=title, text=text).encode()
    headers: Headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"cache-control", b"no-store"),
        *extra,
    ]
    await send_bytes(send, status, body, headers, head=head)


async def send_text(send, status: int, text: str, *, extra: Headers = (), content_type: bytes = b"text/plain; charset=utf-8") -> None:
    await send_bytes(send, status, text.encode(), [(b"content-type", content_type), (b"cache-control", b"no-store"), *extra])
