"""The websocket endpoints (API.md "Websockets") over the real Redis channel layer.

Each test drives ``config.asgi.application`` with ``WebsocketCommunicator`` inside
``asyncio.run``; users and their tokens are made by the sync fixtures beforehand.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from config.asgi import application
from realtime.consumers import user_group

# the consumers decide nothing from the database, but users are real rows and any
# database work a consumer does runs on another thread: it must see committed rows
pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = "/ws/client/"
MITRA = "/ws/mitra/"
PAIRING_FAILED = {"type": "pairing_failed", "chat_session_id": "x", "cause": "no_mitra_available"}
CLOSED_AUTH = {"type": "websocket.close", "code": 4401}
CLOSED_ROLE = {"type": "websocket.close", "code": 4403}
# WebsocketCommunicator reports a handshake closed before accept as (False, 1000)
HANDSHAKE_REJECTED = (False, 1000)


# --- helpers --------------------------------------------------------------------
def _headers(*, token: str | None = None, origin: str | None = None) -> list[tuple[bytes, bytes]]:
    headers = []
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return headers


def _crafted_access(user, *, exp: int) -> str:
    """An access token like ``token_obtain`` issues (role claim included) with a chosen ``exp``."""
    token = AccessToken.for_user(user)
    token["exp"] = exp
    token["role"] = user.role
    return str(token)


@contextlib.asynccontextmanager
async def _socket(path: str, headers: list[tuple[bytes, bytes]] | None = None):
    socket = WebsocketCommunicator(application, path, headers=headers or [])
    try:
        yield socket
    finally:
        await socket.disconnect()


async def _push(user_id, payload: dict) -> None:
    await get_channel_layer().group_send(user_group(user_id), {"type": "realtime.event", "payload": payload})


async def _ping(socket: WebsocketCommunicator) -> dict:
    await socket.send_json_to({"type": "ping"})
    return await socket.receive_json_from(timeout=30)


async def _open_and_ping(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[tuple, dict | None]:
    """connect()'s result and, when accepted, the answer to a ping."""
    async with _socket(path, headers) as socket:
        connected = await socket.connect()
        return connected, (await _ping(socket) if connected[0] else None)


async def _refused(path: str, headers: list[tuple[bytes, bytes]], *, user_id=None) -> tuple[tuple, dict, bool]:
    """connect()'s result, the frame after the accept, and whether an event pushed to
    ``user_id`` afterwards left the socket silent (it must not have joined the group)."""
    async with _socket(path, headers) as socket:
        connected = await socket.connect()
        frame = await socket.receive_output(timeout=30)
        if user_id is not None:
            await _push(user_id, PAIRING_FAILED)
        return connected, frame, await socket.receive_nothing(timeout=0.5)


# --- authentication -----------------------------------------------------------
def test_customer_token_in_bearer_header_connects_to_client_socket_and_ping_gets_pong(make_customer, api_client_for):
    # given
    access = api_client_for(make_customer()).tokens["access"]

    # when
    connected, reply = asyncio.run(_open_and_ping(CLIENT, _headers(token=access)))

    # then
    assert connected == (True, None)
    assert reply == {"type": "pong"}


def test_mitra_token_in_query_string_connects_to_mitra_socket(make_mitra, api_client_for):
    # given
    access = api_client_for(make_mitra()).tokens["access"]

    # when
    connected, reply = asyncio.run(_open_and_ping(f"{MITRA}?token={access}", []))

    # then
    assert connected == (True, None)
    assert reply == {"type": "pong"}


@pytest.mark.parametrize("path", [CLIENT, MITRA])
def test_missing_token_is_closed_4401(path):
    # when
    connected, frame, silent = asyncio.run(_refused(path, []))

    # then
    assert connected == (True, None)
    assert frame == CLOSED_AUTH
    assert silent is True


@pytest.mark.parametrize(
    "path, headers",
    [
        (f"{CLIENT}?token=not-a-jwt", []),
        (f"{MITRA}?token=not-a-jwt", []),
        (f"{CLIENT}?token=", []),
        (CLIENT, _headers(token="not-a-jwt")),
        (CLIENT, [(b"authorization", b"Bearer")]),
        (CLIENT, [(b"authorization", b"Token abc")]),
    ],
)
def test_garbage_token_is_closed_4401(path, headers):
    # when
    connected, frame, silent = asyncio.run(_refused(path, headers))

    # then
    assert connected == (True, None)
    assert frame == CLOSED_AUTH
    assert silent is True


def test_refresh_token_is_not_an_access_token_and_is_closed_4401(make_customer, api_client_for):
    # given
    client = api_client_for(make_customer())

    # when
    connected, frame, silent = asyncio.run(
        _refused(CLIENT, _headers(token=client.tokens["refresh"]), user_id=client.user.id)
    )

    # then
    assert connected == (True, None)
    assert frame == CLOSED_AUTH
    assert silent is True


def test_expired_token_is_closed_4401_and_joins_no_group(make_customer):
    # given: a well-formed customer access token that expired a second ago
    user = make_customer()
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    token["role"] = user.role

    # when
    connected, frame, silent = asyncio.run(_refused(CLIENT, _headers(token=str(token)), user_id=user.id))

    # then
    assert connected == (True, None)
    assert frame == CLOSED_AUTH
    assert silent is True


def test_crafted_token_with_future_exp_is_accepted(make_customer):
    """Control for the expired-token test: the same construction, only ``exp`` differs."""
    # given
    user = make_customer()
    access = _crafted_access(user, exp=int(time.time()) + 60)

    # when
    connected, reply = asyncio.run(_open_and_ping(CLIENT, _headers(token=access)))

    # then
    assert connected == (True, None)
    assert reply == {"type": "pong"}


def test_customer_token_on_mitra_socket_is_closed_4403_and_joins_no_group(make_customer, api_client_for):
    # given
    client = api_client_for(make_customer())

    # when
    connected, frame, silent = asyncio.run(
        _refused(MITRA, _headers(token=client.tokens["access"]), user_id=client.user.id)
    )

    # then
    assert connected == (True, None)
    assert frame == CLOSED_ROLE
    assert silent is True


def test_mitra_token_on_client_socket_is_closed_4403_and_joins_no_group(make_mitra, api_client_for):
    # given
    client = api_client_for(make_mitra())

    # when
    connected, frame, silent = asyncio.run(
        _refused(f"{CLIENT}?token={client.tokens['access']}", [], user_id=client.user.id)
    )

    # then
    assert connected == (True, None)
    assert frame == CLOSED_ROLE
    assert silent is True


def test_socket_is_closed_4401_when_its_token_expires(make_customer):
    # given: a token expiring 1-2 s from now (exp is whole seconds)
    user = make_customer()
    exp = int(time.time()) + 2
    access = _crafted_access(user, exp=exp)

    async def scenario():
        async with _socket(CLIENT, _headers(token=access)) as socket:
            connected = await socket.connect()
            reply = await _ping(socket)
            # when: the socket is left open past exp
            frame = await socket.receive_output(timeout=30)
            return connected, reply, frame, time.time()

    connected, reply, frame, closed_at = asyncio.run(scenario())

    # then: it was open and usable, then closed 4401 no earlier than exp
    assert connected == (True, None)
    assert reply == {"type": "pong"}
    assert frame == CLOSED_AUTH
    assert closed_at >= exp - 0.1


# --- Origin -------------------------------------------------------------------
@pytest.mark.parametrize("origin", [None, "http://localhost:8000"])
def test_absent_or_control_center_origin_is_accepted(settings, make_customer, api_client_for, origin):
    # given
    settings.CC_ORIGINS = ["http://localhost:8000", "http://127.0.0.1:8000"]
    access = api_client_for(make_customer()).tokens["access"]

    # when
    connected, reply = asyncio.run(_open_and_ping(CLIENT, _headers(token=access, origin=origin)))

    # then
    assert connected == (True, None)
    assert reply == {"type": "pong"}


def test_cc_origin_is_accepted_even_when_its_host_is_not_an_allowed_host(settings, make_customer, api_client_for):
    # given: only CC_ORIGINS can admit this Origin
    settings.CC_ORIGINS = ["https://cc.curhat.example"]
    settings.ALLOWED_HOSTS = ["api.curhat.example"]
    access = api_client_for(make_customer()).tokens["access"]

    # when
    connected, reply = asyncio.run(_open_and_ping(CLIENT, _headers(token=access, origin="https://cc.curhat.example")))

    # then
    assert connected == (True, None)
    assert reply == {"type": "pong"}


@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
def test_foreign_origin_is_refused_at_handshake_even_with_a_valid_token(make_customer, api_client_for, origin):
    # given
    client = api_client_for(make_customer())

    async def scenario():
        async with _socket(CLIENT, _headers(token=client.tokens["access"], origin=origin)) as socket:
            connected = await socket.connect()
            await _push(client.user.id, PAIRING_FAILED)
            return connected, await socket.receive_nothing(timeout=0.5)

    # when
    connected, silent = asyncio.run(scenario())

    # then: rejected before accept, and never subscribed to the user's events
    assert connected == HANDSHAKE_REJECTED
    assert silent is True


# --- events -------------------------------------------------------------------
def test_group_event_reaches_every_socket_of_its_user_and_no_other_user(make_customer, make_mitra, api_client_for):
    # given: the customer on two devices, another customer and a mitra connected
    customer = api_client_for(make_customer())
    other_customer = api_client_for(make_customer())
    mitra = api_client_for(make_mitra())

    async def scenario():
        async with (
            _socket(CLIENT, _headers(token=customer.tokens["access"])) as phone,
            _socket(f"{CLIENT}?token={customer.tokens['access']}") as tablet,
            _socket(CLIENT, _headers(token=other_customer.tokens["access"])) as other,
            _socket(MITRA, _headers(token=mitra.tokens["access"])) as mitra_socket,
        ):
            connected = [await s.connect() for s in (phone, tablet, other, mitra_socket)]
            # when
            await _push(customer.user.id, PAIRING_FAILED)
            received = [await phone.receive_json_from(timeout=30), await tablet.receive_json_from(timeout=30)]
            silent = [await other.receive_nothing(timeout=0.5), await mitra_socket.receive_nothing(timeout=0.1)]
            # the silent sockets are subscribed: their own users' events do reach them
            await _push(other_customer.user.id, {"type": "payment_expired", "payment_session_id": "p"})
            await _push(mitra.user.id, {"type": "session_completed", "chat_session_id": "x", "ended_by": "mitra"})
            own = [await other.receive_json_from(timeout=30), await mitra_socket.receive_json_from(timeout=30)]
            return connected, received, silent, own

    connected, received, silent, own = asyncio.run(scenario())

    # then
    assert connected == [(True, None)] * 4
    assert received == [PAIRING_FAILED, PAIRING_FAILED]
    assert silent == [True, True]
    assert own == [
        {"type": "payment_expired", "payment_session_id": "p"},
        {"type": "session_completed", "chat_session_id": "x", "ended_by": "mitra"},
    ]


def test_event_sent_right_after_accept_is_not_lost(make_customer, api_client_for):
    """A client that has seen the accept must get every event sent after it."""
    # given
    client = api_client_for(make_customer())

    async def scenario():
        frames = []
        for n in range(20):
            async with _socket(CLIENT, _headers(token=client.tokens["access"])) as socket:
                assert await socket.connect() == (True, None)
                # when
                await _push(client.user.id, {**PAIRING_FAILED, "chat_session_id": str(n)})
                frames.append(await socket.receive_json_from(timeout=30))
        return frames

    # then
    assert asyncio.run(scenario()) == [{**PAIRING_FAILED, "chat_session_id": str(n)} for n in range(20)]


# --- client messages ----------------------------------------------------------
@pytest.mark.parametrize("message", [{"type": "subscribe"}, {"no": "type"}, [1, 2], "ping"])
def test_unknown_client_message_gets_an_unknown_message_error_and_the_socket_stays_open(
    make_customer, api_client_for, message
):
    # given
    access = api_client_for(make_customer()).tokens["access"]

    async def scenario():
        async with _socket(CLIENT, _headers(token=access)) as socket:
            await socket.connect()
            # when
            await socket.send_json_to(message)
            return await socket.receive_json_from(timeout=30), await _ping(socket)

    error, reply = asyncio.run(scenario())

    # then
    assert error == {"type": "error", "code": "unknown_message", "detail": "Only ping is accepted."}
    assert reply == {"type": "pong"}


@pytest.mark.parametrize(
    "frame",
    [{"text": '{"type": "ping"'}, {"text": "not json"}, {"text": ""}, {"bytes": b'{"type": "ping"}'}],
    ids=["truncated-json", "not-json", "empty-text", "binary"],
)
def test_invalid_json_or_binary_frame_does_not_break_the_socket(make_customer, api_client_for, frame):
    # given
    access = api_client_for(make_customer()).tokens["access"]

    async def scenario():
        async with _socket(CLIENT, _headers(token=access)) as socket:
            await socket.connect()
            # when
            await socket.send_input({"type": "websocket.receive", **frame})
            return await socket.receive_json_from(timeout=30), await _ping(socket)

    error, reply = asyncio.run(scenario())

    # then: answered like any other message it cannot use, and still alive
    assert error == {"type": "error", "code": "unknown_message", "detail": "Only ping is accepted."}
    assert reply == {"type": "pong"}


# --- account state (issue 10) ---------------------------------------------------
@pytest.mark.parametrize("path, fixture", [(CLIENT, "make_customer"), (MITRA, "make_mitra")])
def test_a_deactivated_accounts_valid_token_is_closed_4401_and_joins_nothing(path, fixture, request, api_client_for):
    user = request.getfixturevalue(fixture)()
    access = api_client_for(user).tokens["access"]
    type(user).objects.filter(id=user.id).update(is_active=False)

    connected, frame, silent = asyncio.run(_refused(path, _headers(token=access), user_id=user.id))

    assert connected == (True, None)
    assert frame == CLOSED_AUTH
    assert silent is True


@pytest.mark.parametrize("how", ["deactivated", "deleted"])
def test_open_sockets_of_an_account_that_is_deactivated_or_deleted_are_closed_4401(how, make_customer, api_client_for):
    """Every device of the user, also one whose socket another process would hold (the
    close goes through the channel layer); another user's socket stays open."""
    user, bystander = make_customer(), make_customer()
    access, other = api_client_for(user).tokens["access"], api_client_for(bystander).tokens["access"]

    def change():
        if how == "deactivated":
            user.is_active = False
            user.save(update_fields=["is_active"])
        else:
            user.delete()

    async def scenario():
        async with _socket(CLIENT, _headers(token=access)) as phone, _socket(CLIENT, _headers(token=access)) as tablet, \
                _socket(CLIENT, _headers(token=other)) as theirs:
            for socket in (phone, tablet, theirs):
                assert (await socket.connect()) == (True, None)
            await asyncio.to_thread(change)
            closed = [await socket.receive_output(timeout=30) for socket in (phone, tablet)]
            return closed, await _ping(theirs)

    closed, pong = asyncio.run(scenario())

    assert closed == [CLOSED_AUTH, CLOSED_AUTH]
    assert pong == {"type": "pong"}


@pytest.mark.parametrize("path", ["/ws/", "/", "/ws/client/extra/", "/ws/operators/"])
def test_an_unknown_websocket_path_is_refused_at_the_handshake(path):
    async def scenario():
        async with _socket(path) as socket:
            return await socket.connect()

    assert asyncio.run(scenario()) == HANDSHAKE_REJECTED
