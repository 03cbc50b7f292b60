"""Process-local counters, exposed at /_tailor/metrics in Prometheus text format.

Rule: plain integer attributes bumped on the hot path (no locks: one event
loop per process); with --workers N each worker reports its own (the `pid`
label tells them apart).
"""

from __future__ import annotations

import os


class Metrics:
    __slots__ = (
        "requests",
        "upstream_errors",
        "upstream_timeouts",
        "html_rewritten",
        "html_unchanged",
        "html_too_large",
        "html_undecodable",
        "html_not_modified",
        "pipeline_errors",
        "decision_misses",
        "decision_errors",
        "profile_misses",
        "slots_applied",
        "slots_skipped",
        "scan_cache_hits",
        "scan_rescans",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def render(self) -> str:
        pid = os.getpid()
        lines = []
        for name in self.__slots__:
            lines.append(f"# TYPE tailor_{name}_total counter")
            lines.append(f'tailor_{name}_total{{pid="{pid}"}} {getattr(self, name)}')
        return "\n".join(lines) + "\n"
