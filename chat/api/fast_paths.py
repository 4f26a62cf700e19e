"""Sending a message without Django's request cycle.

In a running chat both sides send messages every few seconds, so ``POST
/api/chat/{id}/messages`` is the busiest write; through Django and DRF it cost most of a
web process's CPU at 100 live sessions (``make bench`` P4). Its common case — a valid
customer or mitra access token, a well-formed JSON body for a new message, an active
session the sender takes part in — is answered here on the event loop: the input is
checked as ``MessagesApi.SendInputSerializer`` checks it, ``message_send_while_active``
runs the send's one statement and queues its events, and the answer is what
``MessagesApi`` would have given (201, the same body and headers).

Everything else goes to Django and ``MessagesApi`` unchanged, with the body already read:
no or a bad token, another role, a body the serializer might read differently (numbers
for strings, whitespace to trim, another content type, a large body), a replay, a
closing or ended session, someone else's session, a database error. So refusals keep
API.md's error shape and the schema still describes the endpoint.
"""

from __future__ import annotations

import json
import logging
import re

from django.conf import settings

from accounts.models import Role
from chat.services import MAX_TEXT_LENGTH, message_send_while_active
from config import db_outage
from config.fast_path import bearer_claims, header, host_allowed, render_json, send_json
from config.parsers import json_depth_exceeds, reject_constant
from config.throttling import hit_async, throttled_body
from config.wsgi_bridge import COUNTED_RATE_LIMITS
from metrics.http import set_route

logger = logging.getLogger(__name__)

# Django's <uuid:…> path converter, in chat/api/urls.py's route
_MESSAGES_PATH = re.compile(r"/api/chat/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/messages")
MESSAGES_ROUTE = "api/chat/<uuid:id>/messages"
"""That route as Django names it (the request metrics' label)."""
_MAX_CLIENT_MESSAGE_ID = 64  # MessagesApi.SendInputSerializer
# a message of MAX_TEXT_LENGTH characters, each escaped as \uXXXX, with room to spare; a
# larger body (or one without Content-Length) goes to Django, with its own upload limits
_MAX_BODY = 8 * MAX_TEXT_LENGTH
# what DRF's CharField refuses besides length: NUL and lone surrogates
_REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
_ALLOW = b"GET, POST, HEAD, OPTIONS"


def _json_content(scope) -> bool:
    value = header(scope, b"content-type")
    if value is None:
        return False
    media_type, _, params = value.decode("latin-1").partition(";")
    charset = params.strip().lower()
    return media_type.strip().lower() == "application/json" and charset in ("", "charset=utf-8")


def _content_length(scope) -> int | None:
    value = header(scope, b"content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)


def _sendable(body: bytes) -> tuple[str, str] | None:
    """``(client_message_id, text)`` when the serializer would accept them unchanged."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=reject_constant)
    except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError and JSONDecodeError
        return None
    if not isinstance(data, dict) or json_depth_exceeds(data, settings.API_MAX_JSON_DEPTH):
        return None
    client_message_id, text = data.get("client_message_id"), data.get("text")
    if not (isinstance(client_message_id, str) and isinstance(text, str)):
        return None
    if not (0 < len(client_message_id) <= _MAX_CLIENT_MESSAGE_ID and client_message_id == client_message_id.strip()):
        return None
    if not (len(text) <= MAX_TEXT_LENGTH and text.strip()):
        return None
    if _REFUSED_CHARACTERS.search(client_message_id) or _REFUSED_CHARACTERS.search(text):
        return None
    return client_message_id, text


def _replaying(body: bytes, receive):
    """``receive`` for Django: the body read here first, then whatever comes next."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay():
        if pending:
            return pending.pop()
        return await receive()

    return replay


class MessageSendFastPath:
    """ASGI middleware in front of Django's HTTP handler (``config.asgi``)."""

    def __init__(self, django_app):
        self.django_app = django_app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _MESSAGES_PATH.fullmatch(scope["path"])
            if match is not None and self._candidate(scope):
                set_route(scope, MESSAGES_ROUTE)
                # the server delivers no more than Content-Length, checked small above
                body = b""
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client left before sending its body: nobody to answer
                    body += message.get("body", b"")
                    if not message.get("more_body"):
                        break
                status, answer, counted = await self._send(scope, match.group(1), body)
                if answer is not None:
                    headers = [(b"retry-after", str(answer["retry_after"]).encode())] if status == 429 else []
                    await send_json(send, status, render_json(answer), allow=_ALLOW, extra_headers=headers)
                    return
                receive = _replaying(body, receive)
                if counted:  # Django must not count this send a second time
                    scope = {**scope, COUNTED_RATE_LIMITS: (*scope.get(COUNTED_RATE_LIMITS, ()), "messages")}
        await self.django_app(scope, receive, send)

    @staticmethod
    def _candidate(scope) -> bool:
        length = _content_length(scope)
        return length is not None and length <= _MAX_BODY and _json_content(scope) and host_allowed(scope)

    @staticmethod
    async def _send(scope, chat_session_id: str, body: bytes) -> tuple[int, dict | None, bool]:
        """``(status, answer, counted)``: the answer to send, or ``None`` for Django; and
        whether this send was counted against the sender's rate limit already."""
        claims = bearer_claims(scope)
        if claims is None or claims.role not in (Role.CUSTOMER, Role.MITRA):
            return 0, None, False
        sendable = _sendable(body)
        if sendable is None:
            return 0, None, False
        client_message_id, text = sendable
        try:
            wait = await hit_async("messages", f"user:{claims.user_id}")
        except Exception as exc:  # Redis trouble: Django's path answers (or fails) the usual way
            logger.warning("message send fast path: rate limit: %s: %s", type(exc).__name__, exc)
            return 0, None, False
        if wait is not None:
            return 429, throttled_body(wait), True
        if db_outage.breaker.tripped:  # PostgreSQL unreachable: Django's path answers 503 at once
            return 0, None, True
        try:
            answer = await message_send_while_active(
                user_id=claims.user_id, chat_session_id=chat_session_id, client_message_id=client_message_id, text=text
            )
        except Exception as exc:  # database trouble: Django's path answers (or fails) the usual way
            logger.warning("message send fast path: %s: %s", type(exc).__name__, exc)
            answer = None
        return (201, answer, True)
