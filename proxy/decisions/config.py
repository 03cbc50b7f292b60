"""Personalization configuration (personas, segments, triggers, slot rules, experiments).

PLACEHOLDER: the decisions work fills these in. Settings (proxy.settings) embeds
them at the top level of tailor.toml as [[personas]], [[segments]],
[[triggers]], [slots.NAME], [[experiments]] and [holdout].
"""

from __future__ import annotations

from typing import Any

import msgspec


class Persona(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    when: dict[str, Any] = {}


class Segment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    when: dict[str, Any] = {}


class Trigger(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str


class SlotConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rules: list[dict[str, Any]] = []


class Experiment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    slot: str


class Holdout(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    percent: float = 0.0
