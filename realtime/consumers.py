"""Websocket endpoints ``/ws/client/`` and ``/ws/mitra/``.

Consumers translate high-level events sent to the per-user group into JSON frames;
they decide nothing. Auth: an access JWT as ``Authorization: Bearer`` on the
handshake (native apps) or ``?token=``; a missing/bad/expired token, or an account
that is no longer active, closes 4401, a wrong role 4403; the socket is closed 4401 when
its token expires or its account is deactivated (``realtime.delivery.close_sockets``).
An absent ``Origin`` (native apps) is accepted; a foreign ``Origin`` is refused at
handshake, and so is any other websocket path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import parse_qs, urlsplit

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role
from accounts.selectors import user_is_active
from metrics.instruments import WEBSOCKET_CONNECTIONS
from realtime.presence import presence_beat_async, presence_leave_async

logger = logging.getLogger(__name__)

CLOSE_AUTH = 4401
CLOSE_ROLE = 4403


OPERATORS = "operators"
"""The recipient of events for every operator's open control-center page
(``Event(OPERATORS, payload)``, e.g. ``safety_alert``)."""


def user_group(user_id) -> str:
    """The channel-layer group of one user's sockets (every device, every process);
    ``user_group(OPERATORS)`` is every open control-center page's."""
    return f"user.{user_id}"


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def origin_allowed(origin: str | None) -> bool:
    if origin is None:
        return True  # native apps send none
    allowed = {o.rstrip("/").lower() for o in settings.CC_ORIGINS}
    if origin.rstrip("/").lower() in allowed:
        return True
    host = (urlsplit(origin).hostname or "").lower()
    return host in {h.lower().strip("[]") for h in settings.ALLOWED_HOSTS if h != "*"}


def token_from_scope(scope) -> str | None:
    auth = _header(scope, b"authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("token")
    return tokens[0] if tokens else None


class UserSocketConsumer(AsyncJsonWebsocketConsumer):
    role: str = ""
    endpoint: str = ""  # the label of curhat_websocket_connections

    async def connect(self) -> None:
        self.user_id = None
        self._expiry_task = None
        if not origin_allowed(_header(self.scope, b"origin")):
            await self.close()  # before accept: the handshake is rejected (HTTP 403)
            return
        raw = token_from_scope(self.scope)
        try:
            token = AccessToken(raw) if raw else None
        except TokenError:
            token = None
        if token is None:
            await self.accept()
            await self.close(code=CLOSE_AUTH)
            return
        if token.get("role") != self.role:
            await self.accept()
            await self.close(code=CLOSE_ROLE)
            return
        self.user_id = token["user_id"]
        self.group = user_group(self.user_id)
        # join and beat before accepting: a client that has seen the accept misses no event
        # sent after it, and counts as connected already. The account is checked after
        # joining: a deactivation from now on reaches this socket as a close.
        await self.channel_layer.group_add(self.group, self.channel_name)
        if not await database_sync_to_async(user_is_active)(self.user_id):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.user_id = None
            await self.accept()
            await self.close(code=CLOSE_AUTH)
            return
        await self._beat()
        await self.accept()
        self._count_open()
        self._expiry_task = asyncio.ensure_future(self._close_at(int(token["exp"])))

    def _count_open(self) -> None:
        """In ``curhat_websocket_connections`` until ``disconnect`` (metrics/instruments.py)."""
        self._open_gauge = WEBSOCKET_CONNECTIONS.labels(self.endpoint)
        self._open_gauge.inc()

    def _count_closed(self) -> None:
        gauge, self._open_gauge = getattr(self, "_open_gauge", None), None
        if gauge is not None:
            gauge.dec()

    async def _beat(self) -> None:
        """Presence heartbeat (connect and every ping), shared through Redis."""
        await presence_beat_async(self.user_id, self.channel_name)

    async def _close_at(self, exp: int) -> None:
        await asyncio.sleep(max(0.0, exp - time.time()))
        await self.close(code=CLOSE_AUTH)

    async def disconnect(self, code) -> None:
        self._count_closed()
        if self._expiry_task is not None:
            self._expiry_task.cancel()
        if self.user_id is not None:
            # presence first: "connected" must not outlive the socket (extension safeguard)
            await presence_leave_async(self.user_id, self.channel_name)
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            if self.user_id is not None:
                await self._beat()
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "code": "unknown_message", "detail": "Only ping is accepted."})

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        # a binary or empty frame is an unusable message, not a reason to crash the socket
        await self.receive_json(await self.decode_json(text_data) if text_data else None, **kwargs)

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def dispatch(self, message) -> None:
        """Channels' dispatch, without its ``aclose_old_connections()`` before every
        handler: these consumers never touch the database, and that call is a hop to
        the process's one sync thread for every frame of every socket (measured: it
        made a message wait behind every other socket's events, make bench P4)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            # the client closed while this frame was on its way (daphne/autobahn raise);
            # its disconnect is next, and the app catches up through REST when it returns
            logger.debug("frame for a closing socket of %s not sent", self.user_id)

    async def realtime_event(self, event) -> None:
        """A domain event for this user: ``{"type": "realtime.event", "payload": {...}}``."""
        await self.send_json(event["payload"])

    async def realtime_close(self, event) -> None:
        """The account may no longer use its sockets (deactivated, deleted)."""
        await self.close(code=CLOSE_AUTH)


class ClientConsumer(UserSocketConsumer):
    role = Role.CUSTOMER
    endpoint = "client"


class MitraConsumer(UserSocketConsumer):
    role = Role.MITRA
    endpoint = "mitra"


class OperatorConsumer(UserSocketConsumer):
    """``/ws/operator/``: the control-center pages' live events (``safety_alert``). Signed
    in with the control-center session cookie (``AuthMiddlewareStack`` in the routing),
    from one of the control center's own origins; anyone else is closed 4401, a
    signed-in non-operator 4403. Receives what is sent to ``OPERATORS``, and closes
    when the operator's account is deactivated (its own group)."""

    endpoint = "operator"

    async def connect(self) -> None:
        self.user_id = None
        self._expiry_task = None
        origin = _header(self.scope, b"origin")
        if origin is None or not origin_allowed(origin):  # a browser page always sends one
            await self.close()
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.accept()
            await self.close(code=CLOSE_AUTH)
            return
        if not user.is_operator:
            await self.accept()
            await self.close(code=CLOSE_ROLE)
            return
        self.user_id = user.id
        self.group = user_group(self.user_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(user_group(OPERATORS), self.channel_name)
        await self.accept()
        self._count_open()

    async def _beat(self) -> None:
        """Operators are not part of presence (that is the mitras' "connected")."""

    async def disconnect(self, code) -> None:
        self._count_closed()
        if self.user_id is not None:
            await self.channel_layer.group_discard(user_group(OPERATORS), self.channel_name)
            await self.channel_layer.group_discard(self.group, self.channel_name)


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Any other websocket path: the handshake is refused (HTTP 403), not a server error."""

    async def connect(self) -> None:
        await self.close()
