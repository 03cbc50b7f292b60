"""Content-Security-Policy: let the injected tag run under the origin's own policy.

Rule: Tailor never edits a site's CSP. The tag is same-origin, so a policy
that allows 'self' already allows it; but with nonces (and 'strict-dynamic',
where 'self' is ignored) only a script carrying the response's nonce runs.
So, like Cloudflare does for the scripts it injects, Tailor copies the nonce
of the policy's script-src (else default-src) onto its tag. A policy of
hashes only, without 'self', blocks the tag: that is the site's choice.
"""

from __future__ import annotations

import re

from proxy import headers as H

_NONCE = re.compile(rb"'nonce-([A-Za-z0-9+/=_-]{1,200})'")


def script_nonce(headers: H.Headers) -> str | None:
    """The nonce a script needs under the enforced policies, or None when none is needed or found."""
    for policy in H.get_all(headers, b"content-security-policy"):
        directives = {}
        for part in policy.split(b";"):
            name, _, value = part.strip().partition(b" ")
            if name:
                directives.setdefault(name.lower(), value)
        source = directives.get(b"script-src-elem", directives.get(b"script-src", directives.get(b"default-src")))
        if source is None:
            continue
        found = _NONCE.search(source)
        if found:
            return found.group(1).decode("ascii")
    return None
