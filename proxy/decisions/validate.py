"""Cross-field checks of the personalization config (unknown persona names, impossible conditions).

PLACEHOLDER: the decisions work fills this in; raise ConfigError(file=, line=).
"""

from __future__ import annotations

from typing import Any


def check(settings: Any, *, text: str = "", file: str | None = None) -> None:
    return None
