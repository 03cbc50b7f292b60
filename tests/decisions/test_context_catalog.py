"""build_context from request headers, and the in-memory Catalog with its feed loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.catalog import Catalog, load_feed
from proxy.decisions.context import build_context, device_class
from proxy.errors import ConfigError
from proxy.profile_model import CatalogStats, Counters, Session
from proxy.settings import Settings, load_settings
from slots.model import Item
from tests.decisions.helpers import NOW, profile

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Chrome/120 Safari/537.36"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120 Safari/537.36"


@pytest.mark.parametrize(
    ("ua", "extra", "expected"),
    [
        (IPHONE, {}, "mobile"),
        (IPAD, {}, "tablet"),
        (ANDROID_TABLET, {}, "tablet"),
        (DESKTOP, {}, "desktop"),
        (DESKTOP, {"sec-ch-ua-mobile": "?1"}, "mobile"),
        (HEADLESS, {}, "desktop"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", {}, "bot"),
        ("curl/8.5.0", {}, "bot"),
        ("", {}, "bot"),
    ],
)
def test_device_class(ua: str, extra: dict[str, str], expected: str) -> None:
    assert device_class({"user-agent": ua, **extra}) == expected


def ctx(headers: dict[str, str] | None = None, *, query: str = "", prof=None, settings: Settings | None = None, new: bool = False, path: str = "/"):  # noqa: ANN001, ANN201
    return build_context(
        headers={"user-agent": DESKTOP, "host": "shop.test", **(headers or {})},
        path=path,
        query_string=query,
        profile=prof,
        now=NOW,
        settings=settings or Settings(),
        is_new_visitor=new,
    )


def test_local_time_from_the_browser_offset() -> None:
    # NOW is 2023-11-14 22:13:20 UTC, a Tuesday
    assert (ctx().local_hour, ctx().weekday) == (22, 1)
    berlin = profile(tz_offset=-60)  # UTC+1 reports -60
    assert (ctx(prof=berlin).local_hour, ctx(prof=berlin).weekday) == (23, 1)
    tokyo = profile(tz_offset=-540)
    assert (ctx(prof=tokyo).local_hour, ctx(prof=tokyo).weekday) == (7, 2)


def test_query_utm_search_and_referrer() -> None:
    c = ctx({"referer": "https://www.Google.com/search?q=x"}, query="q=+tent+&utm_source=news&utm_campaign=spring&x=1")
    assert c.search_query == "tent" and c.utm_source == "news" and c.utm_campaign == "spring" and c.utm_medium is None
    assert c.referrer_domain == "google.com" and c.query["x"] == "1"
    assert ctx({"referer": "https://shop.test/other"}).referrer_domain is None
    assert ctx({"referer": "http://[::1"}).referrer_domain is None
    assert ctx(query="q=").search_query is None


def test_search_param_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[tag]\nsearch_param = "s"\n[proxy]\ncountry_header = "CF-IPCountry"\n')
    s = load_settings(path)
    c = ctx({"cf-ipcountry": "de"}, query="q=no&s=yes", settings=s)
    assert c.search_query == "yes" and c.country == "DE"
    assert ctx({"cf-ipcountry": "XX"}, settings=s).country is None
    assert ctx({"cf-ipcountry": "DE"}).country is None  # no header configured: never trusted


def test_returning_visitor() -> None:
    assert not ctx(new=True).returning
    assert not ctx(prof=profile()).returning  # first session still going
    stale = profile(session=Session(number=1, started=NOW - 9000, last_seen=NOW - 8000))
    assert ctx(prof=stale).returning
    assert ctx(prof=profile(session=Session(number=2, last_seen=NOW), counters=Counters(sessions=2))).returning


def test_hostile_query_is_bounded() -> None:
    c = ctx(query="&".join(f"k{i}={'v' * 5000}" for i in range(500)))
    assert len(c.query) <= 50 and all(len(v) <= 256 for v in c.query.values())


def test_catalog_observe_reports_new_and_changed_and_merges() -> None:
    cat = Catalog()
    a = Item(id="a", tags=("camping",), title="Tent")
    assert cat.observe([a]) == [a]
    assert cat.observe([a]) == []
    changed = cat.observe([Item(id="a", tags=("camping", "sale"))])
    assert changed == [Item(id="a", tags=("camping", "sale"), title="Tent")]
    assert cat.tagged("sale", 5) == ["a"] and cat.tagged("nope", 5) == []
    cat.observe([Item(id="a", tags=("hiking",))])
    assert cat.tagged("camping", 5) == [] and cat.tagged("hiking", 5) == ["a"]


def test_catalog_popularity_orders_tag_lists_after_stats_change() -> None:
    cat = Catalog([Item(id=x, tags=("t",)) for x in "abc"])
    assert cat.tagged("t", 3) == ["a", "b", "c"]
    cat.stats = CatalogStats(popularity={"c": 5.0, "b": 1.0})
    assert cat.tagged("t", 3) == ["c", "b", "a"]
    assert cat.popular(5) == ["c", "b"] and cat.popularity("c") == 1.0 and cat.popularity("b") == 0.2


def test_catalog_cap() -> None:
    cat = Catalog([Item(id=str(i)) for i in range(10)], max_items=5)
    assert len(cat) == 5


def test_load_feed(tmp_path: Path) -> None:
    feed = tmp_path / "feed.json"
    feed.write_text('[{"id": "a", "tags": ["camping"], "title": "Tent <b>"}, {"id": "b"}]')
    assert [i.id for i in load_feed(feed)] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[{"id": "a", "tags": "camping"}]', "[0].tags"),
        ('[{"id": "a"}, {"title": "no id"}]', "[1]"),
        ('[{"id": "a"}, {"id": "a"}]', "repeats id 'a'"),
        ('{"items": []}', "Expected array"),
        ("[{", "not valid JSON"),
        ('[{"id": ""}]', "empty id"),
    ],
)
def test_load_feed_errors_name_the_entry(tmp_path: Path, text: str, needle: str) -> None:
    feed = tmp_path / "feed.json"
    feed.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_feed(feed)
    assert needle in info.value.message and info.value.file == str(feed)


def test_load_feed_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read catalog feed"):
        load_feed(tmp_path / "nope.json")
