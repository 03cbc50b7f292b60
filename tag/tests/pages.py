"""Fixture pages: slots the proxy rewrote (data-slot + data-tailor-decision),
items, a page item, declarative cart and purchase markup, a search form."""

from __future__ import annotations

from tag.tests.site import FixturePage

HERO_DECISION = "d1.summer.exp1.b.n0nce"
RECS_DECISION = "d1.recs..."

SHOP = f"""
<div data-page-item="tent-2p" data-tags="camping, tents" hidden></div>
<h1>Two-person tent</h1>
<section id="hero" data-slot="hero" data-tailor-decision="{HERO_DECISION}" style="height:300px">
  <div class="card" data-item="tent-2p" data-tags="camping,tents" data-price="59.90" style="height:120px">
    <span id="tent-name">Tent 2P</span>
    <button id="add" data-tailor-event="add_to_cart">Add</button>
  </div>
  <div class="card" data-item="stove" data-tags="camping,cooking" style="height:120px">
    <span id="stove-name">Stove</span>
    <button id="remove" data-tailor-event="remove_from_cart" data-qty="2">Remove</button>
  </div>
</section>
<p id="plain" style="height:40px">Plain text, no item.</p>
<form id="search" action="/other.html" method="get"><input name="q" id="q"><button id="go">Search</button></form>
<form id="buy" action="/other.html" method="get" data-tailor-event="add_to_cart" data-item="lamp" data-tags="lighting" data-price="12">
  <input name="qty" value="3"><button id="buy-submit">Buy</button>
</form>
<a id="next" href="/other.html">next</a>
<div style="height:3000px"></div>
<section id="recs" data-slot="recs" data-tailor-decision="{RECS_DECISION}">
  <div data-item="boots" data-tags="hiking">Boots</div>
  <div data-item="socks">Socks</div>
</section>
"""

PURCHASE = """
<h1>Thanks</h1>
<div data-tailor-event="purchase" data-order="A1001" data-revenue="59.90"
     data-items='[{"item":"tent-2p","qty":1,"price":59.9}]' hidden></div>
"""

QUEUE_STUB = """<script>
window.tailor = window.tailor || {q: []};
tailor.q.push(["track", "signup", {plan: "pro", seats: 3, trial: true, nested: {x: 1}, list: [1, 2]}]);
tailor.q.push(["prefer", {tone: "calm", tags: ["camping", "hiking"], budget: 100}]);
</script>"""

BROKEN = """
<div data-tailor-event="purchase" data-order="B1" data-items='not json' hidden></div>
<div data-slot="x"><div data-item="">empty id</div></div>
"""

PAGES: dict[str, FixturePage] = {
    "/shop.html": FixturePage(SHOP, title="Shop <Tent>"),
    "/other.html": FixturePage("<h1>Other</h1>", title="Other"),
    "/purchase.html": FixturePage(PURCHASE, title="Thanks"),
    "/queue.html": FixturePage("<h1>Queue</h1>", title="Queue", head=QUEUE_STUB),
    "/optin.html": FixturePage(SHOP, title="Opt-in", tag={"consent": "opt-in"}),
    "/custom.html": FixturePage(SHOP, title="Custom", tag={"search_param": "s", "hover_ms": 300}),
    "/broken.html": FixturePage(BROKEN, title="Broken"),
}
