"""Known crawlers, and automation (headless browsers, HTTP libraries), by user agent.

Rule: small and conservative. `is_bot` means "a crawler: do not profile"; the
collector answers 204 and drops its events. A missing user agent counts as a
bot (every real browser sends one). Patterns follow the basics of the IAB/ABC
spiders list. `is_automation` flags headless browsers and HTTP libraries; it is
separate because Tailor's own end-to-end tests drive HeadlessChrome and must be
profiled like visitors; the collector drops those only when told to.
"""

from __future__ import annotations

import re
from functools import lru_cache

_BOT = re.compile(
    r"bot\b|bot/|bot;|crawler|spider|crawling|slurp|mediapartners|adsbot|facebookexternalhit|"
    r"embedly|quora link preview|bingpreview|pinterest|whatsapp|feedfetcher|"
    r"lighthouse|pagespeed|gtmetrix|pingdom|uptimerobot|statuscake|scrapy|archive\.org",
    re.IGNORECASE,
)
_AUTOMATION = re.compile(
    r"headlesschrome|headless|phantomjs|puppeteer|playwright|selenium|webdriver|"
    r"curl/|wget/|python-requests|python-httpx|python-urllib|aiohttp|go-http-client|java/|okhttp|"
    r"libwww|httpclient|node-fetch|axios/",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def is_bot(user_agent: str | None) -> bool:
    if not user_agent or not user_agent.strip():
        return True
    return _BOT.search(user_agent) is not None


@lru_cache(maxsize=4096)
def is_automation(user_agent: str | None) -> bool:
    return bool(user_agent) and _AUTOMATION.search(user_agent) is not None  # type: ignore[arg-type]
