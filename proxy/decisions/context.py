"""Build the decision Context from one request's headers, path and query.

Rule: only what the request itself says, read with plain string work (no
I/O, no environment). The country comes only from the header the operator
named in `[proxy] country_header` (a trusted edge sets it); forced persona /
variants are filled in by the proxy after it checks its secret, not here.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

from proxy.profile_model import Context, DeviceClass, Profile
from proxy.settings import Settings

MAX_QUERY_PARAMS = 50
MAX_VALUE_LENGTH = 256

_BOT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scrape|lighthouse|facebookexternalhit|"
    r"curl/|wget/|python-requests|python-urllib|httpx|aiohttp|go-http-client|java/|okhttp|libwww|"
    r"pingdom|uptime|monitor|bingpreview|embedly|whatsapp|telegrambot|discordbot",
    re.IGNORECASE,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|(android(?!.*mobile))", re.IGNORECASE)
_MOBILE = re.compile(r"mobi|iphone|ipod|android|blackberry|opera mini|iemobile|windows phone", re.IGNORECASE)
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


# Header names build_context reads (besides the operator's country header).
CONTEXT_HEADERS = frozenset({"user-agent", "sec-ch-ua-mobile", "referer", "host"})


def context_headers(raw: Iterable[tuple[bytes, bytes]], country_header: str | None = None) -> dict[str, str]:
    """The few request headers build_context reads, from ASGI's raw list (first value wins).

    Decoding every header of every page request into a dict cost more than
    the context itself; only these are looked at, and names are compared as bytes.
    """
    wanted = _wanted(country_header.lower() if country_header else None)
    out: dict[str, str] = {}
    for name, value in raw:
        if name in wanted:
            key = name.decode("latin-1")
            if key not in out:
                out[key] = value.decode("latin-1")
    return out


@functools.lru_cache(maxsize=16)
def _wanted(country_header: str | None) -> frozenset[bytes]:
    names = CONTEXT_HEADERS if country_header is None else CONTEXT_HEADERS | {country_header}
    return frozenset(n.encode("latin-1") for n in names)


def _device_of(ua: str, mobile_hint: bool) -> DeviceClass:
    if not ua or _BOT.search(ua):
        return "bot"
    if _TABLET.search(ua):
        return "tablet"
    if mobile_hint or _MOBILE.search(ua):
        return "mobile"
    return "desktop"


# Visitors repeat user agents; three regex searches per page were ~3 µs.
# Only ordinary-length ones are remembered (a hostile 8 KB agent is not kept).
_device_of_cached = functools.lru_cache(maxsize=4096)(_device_of)


def device_class(headers: Mapping[str, str]) -> DeviceClass:
    ua = headers.get("user-agent", "")
    hint = headers.get("sec-ch-ua-mobile", "").strip() == "?1"
    return _device_of_cached(ua, hint) if len(ua) <= 512 else _device_of(ua, hint)


def _domain(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.lower()
    return host[4:] if host.startswith("www.") else host


def build_context(
    *,
    headers: Mapping[str, str],
    path: str,
    query_string: str,
    profile: Profile | None,
    now: float,
    settings: Settings,
    is_new_visitor: bool,
    vid: str | None = None,
    page_item: str | None = None,
    is_bot: bool = False,
) -> Context:
    """`headers` have lowercased names. `vid` identifies a visitor with no stored profile yet.

    `page_item` (the page's own item, from the scan) and `is_bot` (the proxy's
    crawler verdict) are folded in here so callers need no Struct replace().
    """
    query: dict[str, str] = {}
    if query_string:
        for key, value in parse_qsl(query_string[:8192], keep_blank_values=True)[:MAX_QUERY_PARAMS]:
            if key not in query:
                query[key[:MAX_VALUE_LENGTH]] = value[:MAX_VALUE_LENGTH]
    device = device_class(headers)

    offset = profile.tz_offset if profile is not None and profile.tz_offset is not None else 0
    local = time.gmtime(now - offset * 60)

    country = None
    if settings.proxy.country_header:
        raw = headers.get(settings.proxy.country_header.lower(), "").strip()
        if _COUNTRY.match(raw) and raw.upper() not in ("XX", "T1"):
            country = raw.upper()

    referrer_domain = None
    referer = headers.get("referer")
    if referer:
        referrer_domain = _domain(referer[:2048])
        own = headers.get("host", "").split(":")[0].lower().removeprefix("www.")
        if referrer_domain is not None and referrer_domain == own:
            referrer_domain = None

    returning = False
    if not is_new_visitor and profile is not None:
        timed_out = now - profile.session.last_seen > settings.profiles.session_timeout_minutes * 60
        returning = profile.session.number > 1 or profile.counters.sessions > 1 or (
            profile.session.number >= 1 and timed_out
        )

    search = query.get(settings.tag.search_param)
    return Context(
        now=now,
        path=path or "/",
        query=query,
        device=device,
        returning=returning,
        local_hour=local.tm_hour,
        weekday=local.tm_wday,
        country=country,
        referrer_domain=referrer_domain,
        utm_source=query.get("utm_source") or None,
        utm_medium=query.get("utm_medium") or None,
        utm_campaign=query.get("utm_campaign") or None,
        search_query=search.strip() or None if search is not None else None,
        page_item=page_item,
        is_bot=is_bot or device == "bot",
        vid=profile.vid if profile is not None else vid,
    )
