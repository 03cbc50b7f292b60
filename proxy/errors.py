"""Tailor's exceptions. A small tree; every class carries the HTTP status it maps to.

    TailorError
    ├── ConfigError            bad tailor.toml (file, line, what was expected); status 500 at boot
    ├── UpstreamError          the origin failed us                          502
    │   └── UpstreamTimeout    the origin did not answer in time              504
    ├── RequestRejected        the client sent something we refuse           400 (or .status)
    │   ├── PayloadTooLarge                                                   413
    │   └── RateLimited        (.retry_after seconds)                         429
    └── StoreError             profile store / journal unavailable            503

Errors of libraries (httpx, aiohttp, sqlite3, redis) are translated into these
at one boundary each (`raise ... from exc`), never leaked to visitors.
"""

from __future__ import annotations


class TailorError(Exception):
    status: int = 500


class ConfigError(TailorError):
    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        where = file or "<config>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")
        self.message = message


class UpstreamError(TailorError):
    status = 502


class UpstreamTimeout(UpstreamError):
    status = 504


class RequestRejected(TailorError):
    status = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class PayloadTooLarge(RequestRejected):
    status = 413


class RateLimited(RequestRejected):
    status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreError(TailorError):
    status = 503
