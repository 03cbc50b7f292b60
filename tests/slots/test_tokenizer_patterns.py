"""tokenizer.attributes_pattern() (separators, then attributes each followed by separators) reads a tag
exactly as the plain alternation of separators and attributes it replaced: same end, same verdict."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from slots import tokenizer as tk

# The reference: one possessive alternation of a separator run or an attribute.
PLAIN = (rb"(?:[\t\n\f\r /]++|%s[^\t\n\f\r />][^\t\n\f\r />=]*+"
         rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"?|'[^']*+'?|[^\t\n\f\r >]*+))?)*+")
GUARD = rb"(?![Dd][Aa][Tt][Aa]-)"
PIECES = [b" ", b"\t", b"\n", b"/", b"a", b"B", b"data-x", b"DATA-y", b"=", b'"', b"'", b'"v"', b"'w'", b'""', b">",
          b"x y", b"= ", b" =", b"<", b"&", b"-", b"\x00"]


def _tag(attrs: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"<([A-Za-z][^\t\n\f\r />]*+)(" + attrs + rb")>")


NEW, OLD = _tag(tk.ATTRS), _tag(PLAIN % b"")
NEW_GUARDED, OLD_GUARDED = _tag(tk.attributes_pattern(GUARD)), _tag(PLAIN % GUARD)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14), st.sampled_from([b"", b">", b'">', b"'>"]))
def test_same_tag_end_as_the_plain_alternation(parts: list[bytes], tail: bytes) -> None:
    html = b"<p " + b"".join(parts) + tail
    for new, old in ((NEW, OLD), (NEW_GUARDED, OLD_GUARDED)):
        a, b = new.match(html), old.match(html)
        assert (a and (a.span(), a.span(2))) == (b and (b.span(), b.span(2))), html


def test_guard_stops_at_a_data_attribute() -> None:
    assert NEW.match(b'<p class="x" data-item="1">') is not None
    assert NEW_GUARDED.match(b'<p class="x" data-item="1">') is None
    assert NEW_GUARDED.match(b'<p class="data-x" title=data-y>') is not None
