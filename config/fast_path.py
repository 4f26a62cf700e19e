"""What the ASGI fast paths (``pairing/api/fast_paths.py``, ``chat/api/fast_paths.py``)
share: Django's host check, the bearer token's claims, and the response headers and
JSON body that Django and DRF would have given.

A fast path answers only the happy path of one endpoint on the event loop; anything it
is not sure about goes to Django unchanged, so refusals keep the one error shape of
API.md and the OpenAPI schema still describes the endpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from rest_framework.renderers import JSONRenderer
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

# what Django's SecurityMiddleware and XFrameOptionsMiddleware add to every API answer
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

_renderer = JSONRenderer()


@dataclass(frozen=True)
class Claims:
    user_id: str
    role: str | None
    expires: float


class VerifiedTokens:
    """Access tokens this process has verified, with their claims. A client sends the
    same token for up to ``ACCESS_TOKEN_LIFETIME``; its signature is checked once, its
    expiry on every use. Bounded: emptied when full."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self.entries: dict[str, Claims] = {}

    def claims(self, raw: str) -> Claims | None:
        entry = self.entries.get(raw)
        if entry is None:
            try:
                token = AccessToken(raw)
            except TokenError:
                return None
            user_id = token.get(jwt_settings.USER_ID_CLAIM)
            if user_id is None:
                return None
            if len(self.entries) >= self.size:
                self.entries.clear()
            entry = self.entries[raw] = Claims(str(user_id), token.get("role"), float(token["exp"]))
        if entry.expires <= time.time():
            self.entries.pop(raw, None)
            return None
        return entry


verified_tokens = VerifiedTokens()


def header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def bearer_claims(scope) -> Claims | None:
    """The claims of a valid, unexpired ``Authorization: Bearer`` access token."""
    value = header(scope, b"authorization")
    if value is None:
        return None
    kind, _, raw = value.decode("latin-1").partition(" ")
    if kind.lower() != "bearer" or not raw.strip():
        return None
    return verified_tokens.claims(raw.strip())


def host_allowed(scope) -> bool:
    """Django's own ``ALLOWED_HOSTS`` check (``HttpRequest.get_host``)."""
    value = header(scope, b"host")
    if value is None:
        return False
    domain, _port = split_domain_port(value.decode("latin-1"))
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def render_json(data) -> bytes:
    """The bytes DRF's ``JSONRenderer`` (the only renderer of the API) gives for ``data``."""
    return _renderer.render(data)


async def send_json(send, status: int, body: bytes, *, allow: bytes, extra_headers=()) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"allow", allow),
        *extra_headers,
        *SECURITY_HEADERS,
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
