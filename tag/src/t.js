/* Tailor's first-party tag: behaviour events -> POST /_tailor/e.
 *
 * Rule: the tag observes and reports, nothing else. It never reads or writes
 * a cookie or the visitor id (identity is the proxy's HttpOnly cookie), never
 * throws into the page (every entry point is wrapped), and sends nothing but
 * `consent` events unless the visitor's consent allows it (GPC always wins).
 *
 * Wire format: proxy/events.py, which rejects unknown fields, so events are
 * built field by field. What visitors and URLs control (url, title, referrer,
 * search text, utm values) is clamped to the limits declared there; what the
 * site owner authored (data-item, data-tags, data-price...) and API props are
 * sent as written: the collector validates them and rejects a bad event alone.
 * Budget: 2 KB gzipped (tag/tests/test_build.py), hence the terse style.
 *
 * Settings come from the script element (document.currentScript.dataset):
 *   data-search="q"          query parameter / input name of site search
 *   data-consent="implied"   or "opt-in": nothing but consent events until
 *                            tailor.consent({personalization: true})
 *   data-hover="800"         ms a pointer must rest on an item
 *   data-endpoint="/_tailor/e"
 *
 * Calls made before the tag loaded are replayed from a queue:
 *   <script>self.tailor=self.tailor||{q:[]}</script>
 *   <script>tailor.q.push(["track","signup",{plan:"pro"}])</script>
 * After load, tailor.track / prefer / consent / flush are plain functions
 * (and tailor.q.push keeps working).
 */
((d, ITEM) => {
  let old = self.tailor;
  if (old?.flush) return; // loaded twice: the first copy is in charge
  // Wrapped once: nothing here throws into the page; callbacks go through guard.
  try {
    // data-* of an element (or of nothing)
    let data = (el) => el?.dataset || {};
    let cfg = data(d.currentScript);
    let endpoint = cfg.endpoint || "/_tailor/e";
    let searchName = cfg.search || "q";

    // -- helpers ----------------------------------------------------------
    let guard =
      (fn) =>
      (...args) => {
        try {
          return fn(...args);
        } catch {}
      };
    let later = (fn, ms) => setTimeout(guard(fn), ms);
    // JSON in localStorage; no value = read (values written are lists or objects).
    let store = guard((key, value) =>
      value ? (localStorage["tailor_" + key] = JSON.stringify(value)) : JSON.parse(localStorage["tailor_" + key])
    );
    let text = (v, max = 256) => v?.slice(0, max);
    // data-tags="a, b" -> ["a", "b"]; a list (API) goes as it is.
    let tagList = (v) => v?.split?.(",").map((t) => t.trim()).filter((t) => t) ?? v;
    let all = (sel, root = d) => root.querySelectorAll(sel);
    let here = () => (location.pathname + location.search).slice(0, 2048);
    let now = Date.now;
    // Scalars (and, for preferences, lists) only; counts and lengths are the
    // collector's to check (it rejects an over-limit event alone).
    let props = (o, lists, out = {}) => {
      for (let k in o) (o[k]?.big || o[k] === +o[k] || o[k] === !!o[k] || (lists && o[k]?.map)) && (out[k] = o[k]);
      return out;
    };

    // -- consent ----------------------------------------------------------
    let choice = store("c") || {};
    let allowed = (e) =>
      e.type == "consent" || (!navigator.globalPrivacyControl && choice.analytics != 0 && (choice.personalization ?? cfg.consent != "opt-in"));

    // -- transport --------------------------------------------------------
    // A batch goes when it has 20 events (by sendBeacon, as when leaving), or
    // 2 s after its first one.
    let queue = [];
    let send = (type, e) =>
      allowed({ type }) &&
      (queue.push({ type, id: crypto.getRandomValues(new Uint32Array(4)).join("_"), ts: now(), url: here(), ...e }) > 19
        ? flush(1)
        : queue[1] || later(flush, 2000));
    // Beacons under 60 KB (2e4 UTF-16 units, 3 bytes each at worst): a longer
    // batch is halved until it fits; an event too big alone goes alone (the
    // collector refuses it, 413: not kept).
    // Idle batches go by fetch (its answer tells a failed send, kept for the
    // next page); full ones and the page's last by sendBeacon (fetch if it refuses).
    // A string body goes as text/plain (no CORS preflight).
    // kept(): the events are stored for the next page (the last 100 failed).
    let post = (
      events,
      leaving,
      body = JSON.stringify({ events }),
      kept = () => store("r", [...(store("r") || []), ...events].slice(-100))
    ) =>
      body.length > 2e4 && events[1]
        ? (post(events.splice(0, events.length / 2), leaving), post(events, leaving))
        : (leaving && navigator.sendBeacon(endpoint, body)) ||
          // keepalive (survives the page) for small bodies: its in-flight
          // quota is 64 KB for all of them, and a refused one is only kept
          fetch(endpoint, { method: "POST", body, keepalive: body.length < 5e3 }).then(
            (r) => r.status < 429 || kept(), // kept: 429 and 5xx
            kept
          );
    let flush = guard((leaving) => queue[0] && post(queue.splice(0), leaving));

    // -- one page view's state (reset by every page view, SPA ones too) -----
    let page, pageItem, engagedMs, visibleSince, depth;
    let itemOf = (el) => ({ item: data(el).item || data(el).pageItem || undefined, tags: tagList(data(el).tags) });
    let scrolled = () =>
      (depth = Math.max(depth, Math.min(100, ((scrollY + innerHeight) / d.documentElement.scrollHeight) * 100 || 0)));
    // Engaged time stops while the tab is hidden (the clock pauses here and
    // restarts when it shows again); the report is cumulative. Then the queue
    // goes: by sendBeacon when the page is leaving (hidden, pagehide event).
    let engagement = (leaving) => {
      engagedMs += visibleSince && now() - visibleSince;
      visibleSince = 0;
      engagedMs && send("engagement", { url: page, ms: engagedMs, scroll: scrolled(), ...pageItem }); // read now: the last scroll event may not have fired yet
      flush(leaving);
    };
    // De-duplication: stored lists of the last search ("s") and the last 50
    // orders ("o"). True when v is new (now remembered), or storage fails.
    let fresh = (k, v, n, list = store(k) || []) => !list.includes(v) && (store(k, [...list, v].slice(-n)), 1);
    let search = (q) => (q = text(q)) && fresh("s", q, 1) && send("search", { q });
    // p: the fields of an API call, or of the declarative element and its item.
    let purchase = (p, items = p.items, order = p.order) =>
      items?.[0] &&
      (!order || fresh("o", order, 50)) &&
      send("purchase", {
        order,
        revenue: +p.revenue || undefined,
        items: items.map((i) => ({ item: i.item, qty: i.qty, price: i.price, tags: i.tags })),
      });
    // Any *_cart name goes as written (the collector knows add_to_cart and
    // remove_from_cart and rejects the rest); only add_to_cart has tags/price.
    let cart = (type, p, item = p.item) =>
      item &&
      /_cart$/.test(type) &&
      send(type, {
        item,
        qty: +p.qty || 1,
        ...(type[0] == "a" && { tags: tagList(p.tags), price: +p.price || undefined }),
      });
    // Declarative cart button/link/form: its data-*, else a form's qty
    // field, else its item's data-*.
    let cartFrom = (el) => cart(data(el).tailorEvent, { ...data(el?.closest(ITEM)), qty: el?.elements?.qty?.value, ...data(el) });

    let pageView = (referrer, spa) => {
      let query = new URLSearchParams(location.search), utm = {};
      query.forEach((v, k) => k.indexOf("utm_") || (utm[k] = text(v)));
      page = here();
      pageItem = itemOf(all("[data-page-item]")[0]);
      engagedMs = depth = 0;
      visibleSince = !d.hidden && now();
      send("page_view", {
        referrer: text(referrer, 2048),
        title: text(d.title),
        utm,
        vw: innerWidth,
        vh: innerHeight,
        tzo: new Date().getTimezoneOffset(),
        ...pageItem,
        spa,
      });
      search(query.get(searchName));
      for (let el of all("[data-tailor-event=purchase]")) purchase({ ...data(el), items: guard(JSON.parse)(data(el).items) });
      for (let el of all("[data-slot]")) io.observe(el);
    };
    // History-API navigation: a tick later (once the app has rendered the
    // new page), report the page being left, then the new one.
    let spaNavigate = () =>
      later(() => here() != page && (engagement(), pageView(location.origin + page, true)));

    let slotOf = (el) => ({ slot: data(el).slot, decision: data(el).tailorDecision });
    // -- slots: exposure = at least half visible for one continuous second --
    let io = new IntersectionObserver(
      (entries) => {
        entries.forEach(({ target: el, intersectionRatio }) => {
          clearTimeout(el.tailorTimer);
          el.tailorTimer =
            intersectionRatio >= 0.5 &&
            later(
              () =>
                // once per page view: observed again by the next one
                el.isConnected &&
                send("exposure", {
                  ...slotOf(io.unobserve(el) || el),
                  items: [el, ...all(ITEM, el)]
                    .map((i) => data(i).item)
                    .filter((i) => i)
                    .slice(0, 64),
                }),
              1000
            );
        });
      },
      { threshold: 0.5 }
    );

    // -- items: click and hover -------------------------------------------
    let itemEvent = (type, el, ms, it = itemOf(el)) => it.item && send(type, { ...it, ms, ...slotOf(el.closest("[data-slot]")) });
    // Capturing on the document sees its elements' events, bubbling or not
    // (Chromium fires pointerenter only if a node, not the window, listens).
    let listen = (type, fn, target = d) => target.addEventListener(type, guard(fn), true);

    // -- public API -------------------------------------------------------
    let api = {
      // Built-in names with no method of their own; anything else is custom.
      track: guard((name, p) =>
        name == "purchase" ? purchase(p) : /_cart$/.test(name) ? cart(name, p) : name && send("custom", { name, props: props(p) })
      ),
      prefer: guard((p) => send("preference", { prefs: props(p, 1) })),
      consent: guard((c, e = {}) => {
        for (let k of ["analytics", "personalization"]) if (c[k] === !!c[k]) choice[k] = e[k] = c[k];
        store("c", choice);
        queue = queue.filter(allowed);
        send("consent", e);
      }),
      flush,
      q: { push: guard(([name, ...args]) => api[name](...args)) },
    };

    self.tailor = api;
    pageView(d.referrer);
    // Events whose send failed on an earlier page (their ids let the server de-duplicate).
    queue.push(...(store("r") || []).filter(allowed));
    store("r", []);
    old?.q?.forEach(api.q.push);

    listen("click", ({ target }) => {
      itemEvent("click", target.closest(ITEM));
      cartFrom(target.closest("[data-tailor-event]:not(form)")); // a form's is sent on submit
    });
    listen("submit", ({ target: form }) => {
      search(form.elements[searchName]?.value);
      cartFrom(form);
    });
    // Hover: the pointer rests on an item for ms (a timer per item, cleared
    // when the pointer leaves it; inside nested items both count).
    listen("pointerenter", ({ target: el, pointerType }, ms = +cfg.hover || 800) => {
      // pointerType "mouse", "pen" or "" (not "touch")
      if (pointerType < "t" && el.matches(ITEM)) el.tailorhover = later(() => itemEvent("hover", el, ms), ms);
    });
    listen("pointerleave", ({ target: el }) => clearTimeout(el.tailorhover));
    listen("scroll", scrolled);
    listen("visibilitychange", () => (d.hidden ? engagement(1) : (visibleSince = now())));
    listen("pagehide", engagement, self);
    listen("popstate", spaNavigate, self);
    for (let m of ["pushState", "replaceState"]) {
      let original = history[m];
      history[m] = (...args) => (spaNavigate(), original.apply(history, args));
    }
  } catch {}
})(document, "[data-item]");
