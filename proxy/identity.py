"""Visitor identity: a random id in a signed first-party cookie.

Rule: the visitor id comes only from Tailor's own cookie, and a cookie counts
only when its HMAC-SHA256 signature verifies (constant-time compare). Anything
absent, forged or malformed reads as None; nothing here raises on input.

Cookie value: `<vid>.<sig>` where vid is 22 URL-safe characters (128 random
bits) and sig is the first 128 bits of HMAC(secret, "vid:" + vid), URL-safe base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path

COOKIE_NAME = "tailor_vid"
DEFAULT_MAX_AGE = 400 * 24 * 3600  # browsers cap cookie lifetime at 400 days
SECRET_FILE = "secret"
_VID_LEN = 22
_SIG_LEN = 22
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class VisitorIds:
    def __init__(self, secret: bytes, *, random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        if len(secret) < 16:
            raise ValueError("cookie secret must be at least 16 bytes")
        self._random = random_bytes
        self._mac = hmac.new(secret, b"vid:", hashlib.sha256)  # keyed once; each signature copies it

    def new(self) -> str:
        return _b64(self._random(16))

    def sign(self, vid: str) -> str:
        mac = self._mac.copy()
        mac.update(vid.encode("ascii"))
        return f"{vid}.{_b64(mac.digest())[:_SIG_LEN]}"

    def verify(self, value: str) -> str | None:
        """The vid inside a signed cookie value, or None."""
        if len(value) != _VID_LEN + 1 + _SIG_LEN or value[_VID_LEN] != ".":
            return None
        vid = value[:_VID_LEN]
        if not _ALPHABET.issuperset(vid):
            return None
        if hmac.compare_digest(self.sign(vid).encode("ascii"), value.encode("ascii", "replace")):
            return vid
        return None

    def read(self, cookie_header: str | None) -> str | None:
        """The verified vid from a raw `Cookie` request header, or None."""
        if not cookie_header:
            return None
        try:
            for part in cookie_header.split(";"):
                name, sep, value = part.partition("=")
                if sep and name.strip() == COOKIE_NAME:
                    vid = self.verify(value.strip().strip('"'))
                    if vid is not None:
                        return vid
        except Exception:  # noqa: BLE001 - a hostile header must never raise
            return None
        return None

    def set_cookie(self, vid: str, *, secure: bool, max_age: int = DEFAULT_MAX_AGE) -> str:
        """A complete `Set-Cookie` header value for this visitor."""
        value = f"{COOKIE_NAME}={self.sign(vid)}; Max-Age={int(max_age)}; Path=/; HttpOnly; SameSite=Lax"
        return value + "; Secure" if secure else value


def load_or_create_secret(data_dir: str) -> bytes:
    """The cookie secret in `<data_dir>/secret`, created once (0600, atomic) and shared by all workers."""
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SECRET_FILE
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    tmp = directory / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_hex(32).encode("ascii"))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another worker won the race: use theirs
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    data = path.read_bytes().strip()
    if len(data) < 16:
        raise ValueError(f"{path}: secret is too short (need at least 16 bytes)")
    return data
