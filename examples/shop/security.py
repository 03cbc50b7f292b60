"""CSRF tokens (double-submit cookie) and signed session cookies.

Rule: compare secrets in constant time; a malformed or unsigned cookie is
treated exactly like a missing one.
"""

from __future__ import annotations

import hashlib
import hmac
import re

CSRF_COOKIE = "shop_csrf"
CSRF_FIELD = "csrf"
SESSION_COOKIE = "shop_session"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_CUSTOMER = re.compile(r"^cust-[0-9a-f]{12}$")


def is_well_formed_token(value: str | None) -> bool:
    return value is not None and _TOKEN.match(value) is not None


def csrf_ok(cookie_value: str | None, form_value: object) -> bool:
    if not is_well_formed_token(cookie_value) or not isinstance(form_value, str):
        return False
    assert cookie_value is not None
    return hmac.compare_digest(cookie_value.encode(), form_value.encode())


def customer_id_for(email: str) -> str:
    """A stable customer id for an email address (the demo has no user database)."""
    return "cust-" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:12]


def sign_session(customer_id: str, secret: bytes) -> str:
    return f"{customer_id}.{_signature(customer_id, secret)}"


def verify_session(value: str | None, secret: bytes) -> str | None:
    """The customer id in a session cookie, or None if it is missing or forged."""
    if not value or value.count(".") != 1:
        return None
    customer_id, signature = value.split(".")
    if not _CUSTOMER.match(customer_id):
        return None
    if not hmac.compare_digest(signature, _signature(customer_id, secret)):
        return None
    return customer_id


def _signature(customer_id: str, secret: bytes) -> str:
    return hmac.new(secret, customer_id.encode(), hashlib.sha256).hexdigest()[:32]
