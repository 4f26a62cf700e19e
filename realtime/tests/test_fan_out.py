"""Fan-out at the scale users bring, on the real Redis channel layer: hundreds of
recipients of one blast, a thousand sockets closing or reconnecting at once.

Correctness only: every socket gets its event, nothing is left behind. How fast is
measured by ``make bench`` (P2, P7), never here."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import MitraProfile, MitraStatus, Role, User
from config.asgi import application
from config.redis_client import get_redis
from realtime import delivery
from realtime.channel_layer import CurhatChannelLayer
from realtime.consumers import user_group
from realtime.delivery import Event

pytestmark = pytest.mark.django_db(transaction=True)


def _bulk_mitras(n: int, *, online: bool = True) -> list[User]:
    users = User.objects.bulk_create(
        [User(email=f"fanout-{uuid.uuid4().hex[:12]}@example.test", role=Role.MITRA, password="!") for _ in range(n)]
    )
    status = MitraStatus.ONLINE if online else MitraStatus.OFFLINE
    MitraProfile.objects.bulk_create([MitraProfile(user=u, display_name=f"Bestie {i}", status=status) for i, u in enumerate(users)])
    return users


def _access(user: User) -> str:
    token = AccessToken.for_user(user)
    token["role"] = user.role
    return str(token)


async def _connect_all(paths: list[str]) -> list[WebsocketCommunicator]:
    sockets = [WebsocketCommunicator(application, path) for path in paths]
    results = await asyncio.gather(*(s.connect(timeout=60) for s in sockets))
    assert [connected for connected, _ in results] == [True] * len(sockets)
    return sockets


async def _first_of_type(socket: WebsocketCommunicator, event_type: str) -> dict:
    while True:
        event = await socket.receive_json_from(timeout=60)
        if event.get("type") == event_type:
            return event


def _group_members(user_ids) -> int:
    client = get_redis()
    return sum(client.zcard(f"{settings.REDIS_PREFIX}:asgi:group:{user_group(u)}") for u in user_ids)


def _presence_members(user_ids) -> int:
    client = get_redis()
    return sum(client.zcard(f"{settings.REDIS_PREFIX}:presence:{u}") for u in user_ids)


def test_a_blast_to_400_connected_mitras_reaches_every_socket(make_customer, api_client_for, confirmed_payment):
    mitras = _bulk_mitras(400)
    customer = make_customer()
    client = api_client_for(customer)
    payment = confirmed_payment(customer)

    async def scenario():
        sockets = await _connect_all([f"/ws/mitra/?token={_access(m)}" for m in mitras])
        try:
            response = await database_sync_to_async(client.post)(
                "/api/client/chat/start", {"payment_session_id": str(payment.id), "sensitive": False}, format="json"
            )
            assert response.status_code == 201, response.content
            events = await asyncio.gather(*(_first_of_type(s, "chat_request") for s in sockets))
            return response.json()["id"], events
        finally:
            await asyncio.gather(*(s.disconnect(timeout=120) for s in sockets))

    before = delivery.delivery_stats()
    request_id, events = asyncio.run(scenario())

    assert len(events) == 400
    assert {e["request_id"] for e in events} == {request_id}
    after = delivery.delivery_stats()
    assert after["events_dropped"] == before["events_dropped"]
    assert after["events_sent"] - before["events_sent"] >= 400


def test_fan_out_sends_thousands_in_bounded_batches_and_reports_every_send(settings):
    settings.REALTIME_FANOUT_BATCH_SIZE = 100
    settings.REALTIME_FANOUT_CONCURRENCY = 3
    user_ids = [uuid.uuid4() for _ in range(2500)]
    probe = user_ids[::250]

    async def scenario():
        layer = get_channel_layer()
        channels = []
        for user_id in probe:
            name = await layer.new_channel()
            await layer.group_add(user_group(user_id), name)
            channels.append(name)
        outcome = await delivery.fan_out([Event(u, {"type": "payment_expired", "n": str(u)}) for u in user_ids])
        received = [await asyncio.wait_for(layer.receive(name), 10) for name in channels]
        for user_id, name in zip(probe, channels):
            await layer.group_discard(user_group(user_id), name)
        return outcome, received

    outcome, received = asyncio.run(scenario())

    assert outcome == {"events_sent": 2500, "events_retried": 0, "events_dropped": 0}
    assert [m["payload"]["n"] for m in received] == [str(u) for u in probe]


class _FlakyLayer(CurhatChannelLayer):
    """The real layer, whose first ``failures`` batched sends fail as a lost Redis
    connection does."""

    failures = 0

    async def group_send_many(self, sends):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Connection reset by peer")
        return await super().group_send_many(sends)


def _layer(cls=CurhatChannelLayer, **host_overrides):
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    hosts = [{**config["hosts"][0], **host_overrides}]
    return cls(**{**config, "hosts": hosts, "prefix": config["prefix"]})


def test_a_failed_batch_is_retried_and_delivered(settings, monkeypatch):
    settings.REALTIME_FANOUT_RETRY_DELAY = 0.01
    layer = _layer(_FlakyLayer)
    layer.failures = 2
    monkeypatch.setattr(delivery, "get_channel_layer", lambda: layer)
    user_id = uuid.uuid4()

    async def scenario():
        name = await layer.new_channel()
        await layer.group_add(user_group(user_id), name)
        outcome = await delivery.fan_out([Event(user_id, {"type": "payment_expired"})])
        message = await asyncio.wait_for(layer.receive(name), 10)
        await layer.group_discard(user_group(user_id), name)
        return outcome, message

    outcome, message = asyncio.run(scenario())

    assert outcome == {"events_sent": 1, "events_retried": 2, "events_dropped": 0}
    assert message["payload"] == {"type": "payment_expired"}


def test_what_is_finally_dropped_is_logged_and_counted(settings, monkeypatch, caplog):
    settings.REALTIME_FANOUT_RETRIES = 1
    settings.REALTIME_FANOUT_RETRY_DELAY = 0.01
    # a Redis nothing listens on: every try fails for real
    layer = _layer(address="redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    monkeypatch.setattr(delivery, "get_channel_layer", lambda: layer)
    before = delivery.delivery_stats()

    outcome = delivery.send_events_now([Event(uuid.uuid4(), {"type": "chat_request_closed"}) for _ in range(3)])

    assert outcome == {"events_sent": 0, "events_retried": 1, "events_dropped": 3}
    after = delivery.delivery_stats()
    assert after["events_dropped"] - before["events_dropped"] == 3
    assert any(r.levelname == "ERROR" and "3 chat_request_closed events" in r.getMessage() for r in caplog.records)


def test_a_full_socket_channel_counts_as_dropped(settings, monkeypatch):
    layer = _layer()
    layer.channel_capacity = layer.compile_capacities({"specific.*": 2})
    monkeypatch.setattr(delivery, "get_channel_layer", lambda: layer)
    user_id = uuid.uuid4()

    async def scenario():
        name = await layer.new_channel()
        await layer.group_add(user_group(user_id), name)
        outcome = await delivery.fan_out([Event(user_id, {"type": "message", "n": i}) for i in range(5)])
        await layer.group_discard(user_group(user_id), name)
        return outcome

    assert asyncio.run(scenario()) == {"events_sent": 2, "events_retried": 0, "events_dropped": 3}


def test_a_thousand_sockets_closing_and_reconnecting_at_once_leave_nothing_behind():
    mitras = _bulk_mitras(1000, online=False)
    user_ids = [m.id for m in mitras]
    paths = [f"/ws/mitra/?token={_access(m)}" for m in mitras]

    async def scenario():
        sockets = await _connect_all(paths)
        connected_members = await sync_to_async(_group_members)(user_ids)
        connected_presence = await sync_to_async(_presence_members)(user_ids)
        # the storm: every socket closes at once (an app instance error would raise here)
        await asyncio.gather(*(s.disconnect(timeout=120) for s in sockets))
        left_members = await sync_to_async(_group_members)(user_ids)
        left_presence = await sync_to_async(_presence_members)(user_ids)
        # and all come back at once, then each gets an event addressed to it
        sockets = await _connect_all(paths)
        outcome = await delivery.fan_out([Event(u, {"type": "chat_request_closed", "request_id": str(u)}) for u in user_ids])
        events = await asyncio.gather(*(_first_of_type(s, "chat_request_closed") for s in sockets))
        await asyncio.gather(*(s.disconnect(timeout=120) for s in sockets))
        return connected_members, connected_presence, left_members, left_presence, outcome, events

    connected_members, connected_presence, left_members, left_presence, outcome, events = asyncio.run(scenario())

    assert (connected_members, connected_presence) == (1000, 1000)
    assert (left_members, left_presence) == (0, 0)
    assert outcome["events_dropped"] == 0
    assert [e["request_id"] for e in events] == [str(u) for u in user_ids]
    assert (_group_members(user_ids), _presence_members(user_ids)) == (0, 0)
