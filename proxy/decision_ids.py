"""Decision ids: what the proxy writes on a rewritten slot and the tag echoes back.

Rule: an id names what was shown, so an exposure or click event can be folded
(frequency caps, experiment stickiness, bandit rewards) without a lookup:

    d1.<variant>.<experiment>.<arm>.<nonce>

Each part is [A-Za-z0-9_-]* (empty when not applicable); names with other
characters are replaced by '_' (config validation keeps real names clean).
The id is not a secret and grants nothing: it is parsed only to attribute
events to the visitor's own profile and to experiment statistics.
"""

from __future__ import annotations

import re

import msgspec

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_PREFIX = "d1"


class DecisionRef(msgspec.Struct, frozen=True):
    variant: str | None = None
    experiment: str | None = None
    arm: str | None = None
    nonce: str = ""


def _clean(value: str | None) -> str:
    return _UNSAFE.sub("_", value) if value else ""


def make_id(*, variant: str | None = None, experiment: str | None = None, arm: str | None = None, nonce: str = "") -> str:
    return ".".join((_PREFIX, _clean(variant), _clean(experiment), _clean(arm), _clean(nonce)))


def parse_id(value: str | None) -> DecisionRef | None:
    """The parts of a decision id, or None when it is not one of ours."""
    if not value or len(value) > 256:
        return None
    parts = value.split(".")
    if len(parts) != 5 or parts[0] != _PREFIX or any(_UNSAFE.search(p) for p in parts):
        return None
    return DecisionRef(variant=parts[1] or None, experiment=parts[2] or None, arm=parts[3] or None, nonce=parts[4])
