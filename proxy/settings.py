"""Tailor's configuration: one frozen Settings Struct, loaded once at start-up.

Rule: nothing reads the environment or the config file per request. A
tailor.toml is decoded with msgspec into Settings; any problem is a
ConfigError naming the file, the line and what was expected.

    [proxy]        forwarding, limits, timeouts, trust
    [tag]          what the injected tag does
    [collector]    the event endpoint's limits
    [profiles]     where profiles live, how long
    [decisions]    deadline and debug marks
    [[personas]], [[segments]], [[triggers]], [slots.NAME], [[experiments]], [holdout]
                   personalization (see proxy.decisions.config)
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from proxy.decisions.config import Experiment, Holdout, Persona, Segment, SlotConfig, Trigger
from proxy.errors import ConfigError

DEFAULT_HTML_MAX_BYTES = 4 * 1024 * 1024  # above this HTML streams through untouched
DEFAULT_DECODED_MAX_BYTES = 8 * 1024 * 1024  # cap on a decompressed body (bomb guard)
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0  # nginx's proxy_read_timeout is 60 s; pages should not take 30
DEFAULT_TRUSTED_PROXIES = ("127.0.0.1/32", "::1/128")

PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ProxySettings(_Section):
    origin: str = ""  # e.g. "http://127.0.0.1:8000"; required to serve
    host: str = "127.0.0.1"
    port: Port = 8080
    workers: PositiveInt = 1
    public_url: str | None = None  # how visitors reach Tailor; default: the request's own scheme and Host
    preserve_host: bool = False  # send the visitor's Host to the origin (CMSs that build links from it)
    upstream_client: Literal["httptools", "aiohttp", "httpx-aiohttp", "httpx"] = "httptools"
    connect_timeout: PositiveFloat = DEFAULT_CONNECT_TIMEOUT
    read_timeout: PositiveFloat = DEFAULT_READ_TIMEOUT
    client_header_timeout: PositiveFloat = 20.0  # a visitor's request head must arrive within this (slowloris)
    client_body_timeout: PositiveFloat = 60.0  # longest pause between two reads of a request body (stalled uploads)
    html_max_bytes: PositiveInt = DEFAULT_HTML_MAX_BYTES
    decoded_max_bytes: PositiveInt = DEFAULT_DECODED_MAX_BYTES
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES
    max_connections: PositiveInt = 256
    customer_header: str = "X-Tailor-Customer"  # origin asserts a logged-in customer; stripped
    country_header: str | None = None  # e.g. "CF-IPCountry", only if a trusted edge sets it
    data_dir: str = "tailor-data"
    secret: str | None = None  # signs cookies, guards admin/preview; default: generated into data_dir
    private_cache: bool = True  # rewritten pages get Cache-Control: private


class TagSettings(_Section):
    enabled: bool = True
    search_param: str = "q"
    consent: Literal["implied", "opt-in"] = "implied"  # opt-in: nothing but consent until tailor.consent()
    hover_ms: PositiveInt = 800


class CollectorSettings(_Section):
    max_body_bytes: PositiveInt = 64 * 1024
    rate_per_second: PositiveFloat = 20.0  # beacons per visitor/address, token bucket
    burst: PositiveInt = 60
    sync: Literal["normal", "full"] = "normal"  # SQLite synchronous: full fsyncs every group commit


class ProfileSettings(_Section):
    backend: Literal["sqlite", "redis"] = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"
    retention_days: PositiveFloat = 180.0
    session_timeout_minutes: PositiveFloat = 30.0
    half_life_days: PositiveFloat = 14.0
    l1_ttl_seconds: float = 2.0


class DecisionSettings(_Section):
    deadline_ms: PositiveFloat = 50.0
    debug: bool = False  # mark rewritten slots with data-slot-decision="..."
    search_max_shift: Annotated[int, msgspec.Meta(ge=0)] = 3
    catalog_feed: str | None = None


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    proxy: ProxySettings = ProxySettings()
    tag: TagSettings = TagSettings()
    collector: CollectorSettings = CollectorSettings()
    profiles: ProfileSettings = ProfileSettings()
    decisions: DecisionSettings = DecisionSettings()
    personas: tuple[Persona, ...] = ()
    segments: tuple[Segment, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    slots: dict[str, SlotConfig] = {}
    experiments: tuple[Experiment, ...] = ()
    holdout: Holdout = Holdout()
    source: str | None = None  # the file these came from (set by load_settings)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read tailor.toml (or nothing) and apply `proxy.*` overrides from the CLI.

    Raises ConfigError with file and line on any problem.
    """
    text = ""
    data: dict[str, Any] = {}
    name = str(path) if path else None
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config: {exc.strerror}", file=name) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError("config is not valid UTF-8", file=name) from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"\(at line (\d+)", str(exc))
            raise ConfigError(f"invalid TOML: {exc}", file=name, line=int(m.group(1)) if m else None) from exc
    proxy_over = {k: v for k, v in overrides.items() if v is not None}
    if proxy_over:
        data.setdefault("proxy", {}).update(proxy_over)
    data["source"] = name
    return settings_from_dict(data, text=text, file=name)


def settings_from_dict(data: dict[str, Any], *, text: str = "", file: str | None = None) -> Settings:
    try:
        settings = msgspec.convert(data, Settings)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path = message.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in message else "$"
        unknown = re.match(r"Object contains unknown field `([^`]+)`", message)
        if unknown:  # point at the offending key, not at its table
            path = f"{path}.{unknown.group(1)}"
        raise ConfigError(_explain(message), file=file, line=locate(text, path)) from exc
    from proxy.decisions import validate  # noqa: PLC0415 - cross-field checks live with the decision core

    validate.check(settings, text=text, file=file)
    return settings


def _explain(message: str) -> str:
    message = message.replace("Object contains unknown field", "unknown field")
    return message.replace(" - at `$.", " (at ").replace("`", "") + (")" if " (at " in message.replace(" - at `$.", " (at ") else "")


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")


def locate(text: str, path: str) -> int | None:
    """Best-effort line of a msgspec error path like `$.personas[1].when.all[0]` in TOML text.

    Walks table headers and keys; returns the deepest line that matches a
    prefix of the path, so an error inside an inline table points at its key.
    """
    if not text or not path:
        return None
    parts = [p for p in re.split(r"\.|\[(\d+)\]", path.removeprefix("$").lstrip(".")) if p]
    if not parts:
        return None
    best: int | None = None
    best_len = 0
    table: list[str] = []
    counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header and not line.lstrip().startswith("#"):
            name = [p.strip().strip("\"'") for p in header.group(2).split(".")]
            if header.group(1) == "[[":
                key = ".".join(name)
                counts[key] = counts.get(key, -1) + 1
                table = name[:-1] + [name[-1], str(counts[key])]
            else:
                table = name
            candidate = table
        else:
            key = _KEY.match(line)
            if not key or line.lstrip().startswith("#"):
                continue
            candidate = table + [p.strip().strip("\"'") for p in key.group(1).split(".")]
        n = _prefix_len(candidate, parts)
        if n == len(candidate) and n > best_len:
            best, best_len = number, n
    return best


def _prefix_len(candidate: list[str], parts: list[str]) -> int:
    n = 0
    for a, b in zip(candidate, parts):
        if a != b:
            break
        n += 1
    return n
