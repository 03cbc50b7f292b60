"""Config changes are picked up from the file without a restart and without dropping requests."""

from __future__ import annotations

import threading
import time

import httpx

from examples.shop.app import create_app as create_shop
from proxy.app import create_app
from proxy.settings import load_settings
from tests.servers import BROWSER, serve


RULES = """
[slots.promo]
type = "variant"
variants = ["urgent", "calm", "reminder"]

[[slots.promo.rules]]
name = "everyone"
variant = "{variant}"
"""


def promo_variant(html: str) -> str:
    i = html.index('data-slot="promo"')
    tag = html[html.rindex("<", 0, i) : html.index(">", i)]
    return tag.split('data-tailor-decision="d1.')[1].split(".")[0]


def wait_for(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_rules_change_on_file_change_and_a_broken_file_keeps_the_running_rules(tmp_path):
    config = tmp_path / "tailor.toml"
    config.write_text(RULES.format(variant="urgent"))
    with serve(create_shop()) as shop:
        app = create_app(load_settings(config, origin=shop, data_dir=str(tmp_path / "data")))
        app.config_poll_seconds = 0.05
        with serve(app) as url, httpx.Client(base_url=url, headers=BROWSER, trust_env=False) as c:
            assert promo_variant(c.get("/").text) == "urgent"
            failures: list[object] = []
            stop = threading.Event()

            def hammer():
                with httpx.Client(base_url=url, headers=BROWSER, trust_env=False) as h:
                    while not stop.is_set():
                        r = h.get("/")
                        if r.status_code != 200:
                            failures.append(r.status_code)

            t = threading.Thread(target=hammer)
            t.start()
            try:
                config.write_text(RULES.format(variant="calm") + "\n# changed\n")
                assert wait_for(lambda: promo_variant(c.get("/").text) == "calm")
                reloads = app.reloads
                config.write_text("[[slots.promo.rules]]\nname = 'broken'\nvariant = 42\n")
                assert wait_for(lambda: app.reloads == reloads and config.stat().st_mtime < time.time() - 0.2)
                time.sleep(0.3)
                assert app.reloads == reloads
                assert promo_variant(c.get("/").text) == "calm"
            finally:
                stop.set()
                t.join()
            assert failures == []
