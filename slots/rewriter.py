"""rewrite(): apply decisions to the slots of a scanned page and insert the tag.

Rule: the output is the input with a few disjoint byte ranges replaced: the
slot start tags gain attributes right after their tag name, and a slot's
content is rebuilt only from its own untouched item bytes (carousel, search),
escaped template output (recommendations) or one variant's bytes (variant).
Anything that does not fit is reported as a Problem and left as it was.
Never raises.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Mapping

from slots import charset as cs
from slots import escape as esc
from slots.model import Decision, Problem, Rewritten, ScannedPage, Slot


def rewrite(html: bytes, page: ScannedPage, decisions: Mapping[str, Decision], *, tag: bytes = b"",
            debug: bool = False, charset: str | None = None) -> Rewritten:
    """Apply `decisions` (by slot name) to `html`, which `page` must have been scanned from. Never raises."""
    try:
        return _rewrite(html, page, decisions, tag, debug, charset)
    except Exception as exc:  # never break a page
        return Rewritten(body=html, problems=tuple(page.problems) + (
            Problem(f"rewrite error: {type(exc).__name__}: {exc}"),))


def _rewrite(html: bytes, page: ScannedPage, decisions: Mapping[str, Decision], tag: bytes, debug: bool,
             charset: str | None) -> Rewritten:
    problems = list(page.problems)
    if page.size is not None and page.size != len(html):
        problems.append(Problem("page was scanned from other bytes: nothing rewritten"))
        return Rewritten(body=html, problems=tuple(problems))
    utf8 = cs.is_utf8(charset or page.charset)
    edits: list[tuple[int, int, bytes]] = []
    applied: list[str] = []
    rewritten_spans: list[tuple[int, int]] = []
    found = 0  # decisions whose slot is on the page
    for slot in page.slots:
        decision = decisions.get(slot.name)
        if decision is None:
            continue
        found += 1
        if slot.parent is not None and _inside_rewritten(slot, rewritten_spans):
            problems.append(Problem(f"nested in rewritten slot {slot.parent!r}: left as is", slot.name, slot.start))
            continue
        layout = slot.layout
        if layout is None:
            problems.append(Problem("slot has no layout (not from scan()): ignored", slot.name, slot.start))
            continue
        content, problem = _content(html, slot, decision, utf8)
        if problem is not None:
            problems.append(Problem(problem, slot.name, slot.start))
            continue
        did = decision.id
        if utf8 and esc.plain_text(did):  # esc.escape(did, True), most ids needing nothing
            attrs = b' data-tailor-decision="' + did.encode() + b'"'
        else:
            attrs = b' data-tailor-decision="' + esc.escape(did, utf8) + b'"'
        if debug:
            attrs += b' data-slot-decision="' + esc.escape(decision.reason, utf8) + b'"'
        edits.append((layout.name_end, layout.name_end, attrs))
        if content is not None:
            edits.append((layout.open_end, layout.content_end, content))
        applied.append(slot.name)
        rewritten_spans.append((slot.start, slot.end))
    if found < len(decisions):  # reported first, as they come in `decisions`
        names = {s.name for s in page.slots}
        problems[len(page.problems):len(page.problems)] = [
            Problem("decision for a slot that is not on the page: ignored", name) for name in decisions if name not in names]
    tag_inserted = False
    if tag and page.tag_offset is not None:
        off = page.tag_offset
        for a, b in rewritten_spans:
            if a < off < b:
                problems.append(Problem("tag position lies inside a rewritten slot: no tag", None, off))
                break
        else:
            edits.append((off, off, tag))
            tag_inserted = True
    if not edits:
        return Rewritten(body=html, applied=tuple(applied), problems=tuple(problems), tag_inserted=tag_inserted)
    edits.sort(key=_SPAN)
    view = memoryview(html)  # slices without copies: the page is copied once, by join()
    out: list[bytes | memoryview] = []
    last = 0
    for a, b, data in edits:
        out.append(view[last:a])
        out.append(data)
        last = b
    out.append(view[last:])
    return Rewritten(body=b"".join(out), applied=tuple(applied), problems=tuple(problems), tag_inserted=tag_inserted)


_SPAN = itemgetter(0, 1)  # edits sort by (start, end), in the order they were made when both are equal


def _inside_rewritten(slot: Slot, spans: list[tuple[int, int]]) -> bool:
    return any(a <= slot.start and slot.end <= b for a, b in spans)


def _content(html: bytes, slot: Slot, d: Decision, utf8: bool) -> tuple[bytes | None, str | None]:
    """New bytes for the slot's content (None: content unchanged), or a reason to leave the slot alone."""
    layout = slot.layout
    assert layout is not None
    if slot.type in ("carousel", "search"):
        if d.order is None:
            return None, None  # keep the origin's order (a control decision still marks the slot)
        index = {item.id: i for i, item in enumerate(slot.items)}
        chosen: list[int] = []
        for ident in d.order:
            i = index.get(ident)
            if i is not None and i not in chosen:
                chosen.append(i)
        if not chosen:
            return None, "decision orders no item of the slot: ignored"
        if slot.max_items is not None:
            chosen = chosen[: max(slot.max_items, 0)]
        if chosen == list(range(len(slot.items))):
            return None, None
        spans = layout.items
        return _between_items(html, html[layout.open_end:spans[0][0]], spans, [html[spans[i][0]:spans[i][1]] for i in chosen],
                              html[spans[-1][1]:layout.content_end]), None
    if slot.type == "recommendations":
        if d.fill is None:
            return None, None
        if layout.template is None:
            return None, "recommendations slot has no <template data-item-template>: fallback kept"
        t_start, c_start, c_end, t_end = layout.template
        template = html[c_start:c_end]
        cap = 1000
        if slot.limit is not None and slot.limit < cap:
            cap = slot.limit
        if slot.max_items is not None and slot.max_items < cap:
            cap = slot.max_items
        rendered = esc.render_items(template, d.fill[: max(cap, 0)], d.fields, utf8)
        if not rendered and d.fill:
            return None, "nothing to fill: fallback kept"
        if not layout.items:
            # no fallback children: the filled items follow the template
            return html[layout.open_end:t_end] + b"".join(rendered) + html[t_end:layout.content_end], None
        spans = layout.items
        first, last = spans[0][0], spans[-1][1]
        if not first <= t_start < last:
            return _between_items(html, html[layout.open_end:first], spans, rendered, html[last:layout.content_end]), None
        # the template stands between fallback items: keep it, in front of the filled items
        template_element = html[t_start:t_end]
        gaps = [html[spans[i][1]:spans[i + 1][0]].replace(template_element, b"", 1) for i in range(len(spans) - 1)]
        return _respliced(html[layout.open_end:first] + template_element, gaps, rendered, html[last:layout.content_end]), None
    # variant
    if d.variant is None:
        return None, None
    try:
        v = slot.variants.index(d.variant)
    except ValueError:
        return None, f"decision names variant {d.variant!r} that the slot does not have: ignored"
    _, c_start, c_end, _ = layout.variants[v]
    content = html[layout.open_end:layout.content_end]
    lead = content[: len(content) - len(content.lstrip())]
    trail = content[len(content.rstrip()):]
    return lead + html[c_start:c_end] + trail, None


def _between_items(html: bytes, lead: bytes, spans: tuple[tuple[int, int], ...], pieces: list[bytes], trail: bytes) -> bytes:
    """_respliced() with the gaps between the items at `spans` read from `html`: only those it keeps are sliced."""
    out = [lead]
    last_gap = len(spans) - 2
    for k, piece in enumerate(pieces):
        if k:
            g = k - 1 if k - 1 < last_gap else last_gap
            out.append(html[spans[g][1]:spans[g + 1][0]] if g >= 0 else b"")
        out.append(piece)
    out.append(trail)
    return b"".join(out)


def _respliced(lead: bytes, gaps: list[bytes], pieces: list[bytes], trail: bytes) -> bytes:
    """lead + pieces + trail, with what stood between the original items kept between pieces by position."""
    out = [lead]
    for k, piece in enumerate(pieces):
        if k:
            out.append(gaps[k - 1] if k - 1 < len(gaps) else (gaps[-1] if gaps else b""))
        out.append(piece)
    out.append(trail)
    return b"".join(out)
