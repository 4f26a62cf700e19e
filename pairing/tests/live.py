"""Driving pairing as the apps do, in ``django_db(transaction=True)`` tests: websockets
opened on ``config.asgi.application`` over the real Redis channel layer, API calls
made from other threads (each with its own database connection, closed at the end),
and real races released together by a barrier.

Sync work cannot run on the event loop's thread (``deliver`` uses ``async_to_sync``),
so a scenario is one ``asyncio.run(...)`` whose sync steps go through ``off_loop``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Callable

from channels.testing import WebsocketCommunicator
from django.db import connections

from config import async_db
from config.asgi import application
from realtime.delivery import Event, outbox_sent, send_events_now
from realtime.models import PushOutbox

MITRA_WS = "/ws/mitra/"
CLIENT_WS = "/ws/client/"
_MARKER = {"type": "test_marker"}


def _closing_connections(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run():
        try:
            return fn()
        finally:
            connections.close_all()

    return run


async def off_loop(fn: Callable[[], Any]) -> Any:
    """Run sync ``fn`` (an API call, a service) on another thread and return its result."""
    return await asyncio.to_thread(_closing_connections(fn))


def race(calls: list[Callable[[], Any]], *, timeout: float = 60) -> list[Any]:
    """Start every call on its own thread, release them at once, return results in
    order (an exception is returned in place of its result)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def work(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i, call), daemon=True) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a racer hung"
    return results


async def open_socket(path: str, client) -> WebsocketCommunicator:
    """Connect as the app of ``client``'s user does (``?token=<access>``)."""
    socket = WebsocketCommunicator(application, f"{path}?token={client.tokens['access']}")
    connected, code = await socket.connect()
    assert connected, code
    socket.user_id = client.user.id
    return socket


async def open_sockets(path: str, clients: list) -> list[WebsocketCommunicator]:
    return list(await asyncio.gather(*(open_socket(path, client) for client in clients)))


async def close_sockets(sockets: list[WebsocketCommunicator]) -> None:
    await asyncio.gather(*(socket.disconnect() for socket in sockets))


async def received_by_all(sockets: list[WebsocketCommunicator], *, timeout: float = 60) -> list[list[dict]]:
    """Every event each socket got so far, in order. A marker event is sent to each
    user now, the way services send (``send_events_now`` from a thread: behind
    everything the finished calls handed to this process's outbox); delivery keeps one
    process's events in order, so whatever was sent before the marker arrives before
    it. No waiting for silence: an empty list is exact."""
    markers = [Event(user_id, _MARKER) for user_id in {socket.user_id for socket in sockets}]
    await asyncio.to_thread(send_events_now, markers)

    async def drain(socket: WebsocketCommunicator) -> list[dict]:
        events = []
        while (event := await socket.receive_json_from(timeout=timeout)) != _MARKER:
            events.append(event)
        return events

    return list(await asyncio.gather(*(drain(socket) for socket in sockets)))


def as_text(payload: Any) -> str:
    """A payload as the device would get it on the wire (for "appears nowhere" checks)."""
    return json.dumps(payload, default=str, sort_keys=True)


def last_push_id() -> int:
    """The newest ``PushOutbox`` row's id (0: none yet), to read the pushes made after it."""
    return PushOutbox.objects.order_by("-id").values_list("id", flat=True).first() or 0


def assert_anonymous(payloads: Any, customer) -> None:
    """None of ``customer``'s secrets (the root conftest's ``customer_secrets``) is in ``payloads``."""
    from conftest import customer_secrets

    text = as_text(payloads)
    for secret in customer_secrets(customer):
        assert secret not in text, f"{secret!r} reached the mitra"


class RecordingApp:
    """Stands in for Django behind a fast path: records whether a request reached it."""

    def __init__(self, app):
        self.app, self.calls = app, 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        await self.app(scope, receive, send)


def run_like_a_web_process(scenario: Callable[[], Any]) -> Any:
    """``asyncio.run(scenario())`` with one event loop, as a web process has one: before
    it closes, its outbox has sent the events and its database pool is closed."""

    async def main():
        try:
            return await scenario()
        finally:
            await outbox_sent()
            await async_db.close()

    return asyncio.run(main())
