"""Sending a message through the ASGI application as daphne serves it: a new message in
an active session is answered on the event loop (one statement, no Django), with the
body and headers Django gives and the same events; everything else reaches
``MessagesApi`` unchanged and gets its answers and errors (API.md)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from accounts.models import User
from chat.api.fast_paths import MessageSendFastPath
from chat.models import Message
from chat.tests.conftest import post_message
from config import async_db
from config.asgi import application, django_http_app
from conftest import EMAIL, PHONE
from pairing.models import ChatSession
from pairing.representations import iso_datetime
from pairing.tests.live import (
    CLIENT_WS, MITRA_WS, RecordingApp, as_text, close_sockets, open_sockets, received_by_all, run_like_a_web_process,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _as_api(message: Message) -> dict:
    return {
        "id": str(message.id), "chat_session_id": str(message.chat_session_id), "sender": message.sender,
        "text": message.text, "client_message_id": message.client_message_id,
        "created_at": iso_datetime(message.created_at), "delivered_at": None, "read_at": None,
    }


def _messages() -> list[tuple]:
    return sorted(Message.objects.values_list("id", "chat_session_id", "sender", "text", "client_message_id"))


def test_a_new_message_is_answered_without_django_as_django_answers_it(active_chat):
    session_id, customer_client, _ = active_chat()
    django = RecordingApp(django_http_app)
    fast = MessageSendFastPath(django)
    token = customer_client.tokens["access"]

    async def scenario():
        by_fast = await post_message(fast, token, session_id, {"client_message_id": "c-1", "text": "Halo, aku mau cerita 🙂"})
        by_django = await post_message(django_http_app, token, session_id, {"client_message_id": "c-2", "text": "lagi?"})
        return by_fast, by_django

    (status, body, headers), (django_status, django_body, django_headers) = run_like_a_web_process(scenario)

    assert django.calls == 0  # answered before Django
    first = Message.objects.get(client_message_id="c-1")
    assert (first.sender, first.sender_user_id, str(first.chat_session_id)) == ("customer", customer_client.user.id, session_id)
    assert (status, body) == (201, _as_api(first))
    assert django_status == 201 and set(django_body) == set(body)
    # X-Request-ID: Django's middleware sets it here; in front of both, RequestIdAsgi does
    assert set(headers) - {"content-length"} == set(django_headers) - {"content-length", "x-request-id"}
    for name in set(headers) - {"content-length"}:
        assert headers[name] == django_headers[name], name


def test_the_message_reaches_the_other_side_and_the_senders_other_device_without_the_customers_identity(active_chat):
    session_id, customer_client, mitra_client = active_chat()

    async def scenario():
        phone, tablet = await open_sockets(CLIENT_WS, [customer_client, customer_client])
        [mitra_socket] = await open_sockets(MITRA_WS, [mitra_client])
        sockets = [phone, tablet, mitra_socket]
        sent = await post_message(application, customer_client.tokens["access"], session_id, {"client_message_id": "c-1", "text": "halo"})
        after_sent = await received_by_all(sockets)
        reply = await post_message(application, mitra_client.tokens["access"], session_id, {"client_message_id": "m-1", "text": "hai Ayu"})
        after_reply = await received_by_all(sockets)
        await close_sockets(sockets)
        return sent, after_sent, reply, after_reply

    (status, sent, _), after_sent, (reply_status, reply, _), after_reply = run_like_a_web_process(scenario)

    assert (status, reply_status) == (201, 201)
    assert after_sent == [[{"type": "message", "message": sent}]] * 3
    assert after_reply == [[{"type": "message", "message": reply}]] * 3
    assert reply["sender"] == "mitra"
    text = as_text([after_sent[2], after_reply[2], reply])  # what the mitra got
    for secret in (PHONE, "6281234567890", EMAIL, str(customer_client.user.id), "Ayu"):
        assert secret not in text.replace("hai Ayu", ""), f"{secret!r} reached the mitra"


@pytest.mark.parametrize("case, status, code", [
    ("no token", 401, "not_authenticated"),
    ("bad token", 401, "token_not_valid"),
    ("operator", 403, "permission_denied"),
    ("stranger", 404, "not_found"),
    ("unknown host", 400, None),
    ("text/plain", 415, "unsupported_media_type"),
    ("not json", 400, "invalid_json"),
    ("NaN", 400, "invalid_json"),
    ("a list", 400, "invalid_input"),
    ("blank text", 400, "invalid_input"),
    ("text too long", 400, "invalid_input"),
    ("NUL in text", 400, "invalid_input"),
    ("id too long", 400, "invalid_input"),
    ("no id", 400, "invalid_input"),
])
def test_refusals_come_from_django_in_the_api_error_shape_and_change_nothing(case, status, code, active_chat, make_customer, make_operator, api_client_for):
    session_id, customer_client, _ = active_chat()
    token = {
        "no token": None,
        "bad token": "not-a-jwt",
        "operator": api_client_for(make_operator()).tokens["access"],
        "stranger": api_client_for(make_customer()).tokens["access"],
    }.get(case, customer_client.tokens["access"])
    good = {"client_message_id": "c-1", "text": "halo"}
    body = {
        "not json": b'{"client_message_id": "c-1", "text": "halo"',
        "NaN": b'{"client_message_id": "c-1", "text": "halo", "mood": NaN}',
        "a list": [good],
        "blank text": {**good, "text": " \n\t "},
        "text too long": {**good, "text": "x" * 4001},
        "NUL in text": {**good, "text": "ha\x00lo"},
        "id too long": {**good, "client_message_id": "c" * 65},
        "no id": {"text": "halo"},
    }.get(case, good)
    django = RecordingApp(django_http_app)
    fast = MessageSendFastPath(django)
    before = _messages()

    async def scenario():
        return await post_message(
            fast, token, session_id, body,
            content_type=b"text/plain" if case == "text/plain" else b"application/json",
            host=b"evil.example" if case == "unknown host" else b"localhost",
        )

    got_status, got_body, _ = run_like_a_web_process(scenario)

    assert django.calls == 1
    assert got_status == status, got_body
    if code is not None:
        assert got_body["code"] == code, got_body
    assert _messages() == before


@pytest.mark.parametrize("body, stored_id", [
    ({"client_message_id": 42, "text": "angka"}, "42"),  # DRF's CharField takes numbers
    ({"client_message_id": "  c-7 ", "text": "spasi"}, "c-7"),  # and trims the id
    ({"client_message_id": "c-8", "text": "halo", "extra": True}, "c-8"),
])
def test_a_body_the_serializer_reads_its_own_way_is_sent_by_django(body, stored_id, active_chat):
    session_id, customer_client, _ = active_chat()
    django = RecordingApp(django_http_app)
    fast = MessageSendFastPath(django)

    status, sent, _ = run_like_a_web_process(lambda: post_message(fast, customer_client.tokens["access"], session_id, body))

    assert status == 201, sent
    assert sent["client_message_id"] == stored_id
    assert Message.objects.filter(client_message_id=stored_id).count() == 1
    # only the unknown field is read the fast path's way: nothing about it needs Django
    assert django.calls == (0 if "extra" in body else 1)


def test_a_replay_closing_and_ended_sessions_are_decided_by_django(active_chat):
    from chat.tests.test_messages import _to_closing, _to_completed

    session_id, customer_client, mitra_client = active_chat()
    django = RecordingApp(django_http_app)
    fast = MessageSendFastPath(django)
    customer, mitra = customer_client.tokens["access"], mitra_client.tokens["access"]

    async def send(token, client_message_id, text="halo"):
        status, body, _ = await post_message(fast, token, session_id, {"client_message_id": client_message_id, "text": text})
        return status, body

    first = run_like_a_web_process(lambda: send(customer, "c-1"))
    replay = run_like_a_web_process(lambda: send(customer, "c-1", "another text"))
    assert (first[0], replay) == (201, (200, first[1]))  # the first message, unchanged
    assert django.calls == 1

    _to_closing(session_id)
    goodbye = run_like_a_web_process(lambda: send(customer, "c-bye", "dadah"))
    second_goodbye = run_like_a_web_process(lambda: send(customer, "c-bye-2", "dadah lagi"))
    mitra_goodbye = run_like_a_web_process(lambda: send(mitra, "m-bye", "jaga diri ya"))
    assert goodbye[0] == 201 and mitra_goodbye[0] == 201
    assert (second_goodbye[0], second_goodbye[1]["code"]) == (409, "goodbye_already_sent")

    _to_completed(session_id)
    late = run_like_a_web_process(lambda: send(customer, "c-late"))
    assert (late[0], late[1]["code"]) == (409, "session_not_active")
    assert django.calls == 5
    assert Message.objects.filter(chat_session_id=session_id).count() == 3


def test_a_deactivated_account_is_refused_by_django(active_chat):
    session_id, customer_client, _ = active_chat()
    User.objects.filter(id=customer_client.user.id).update(is_active=False)
    django = RecordingApp(django_http_app)

    status, body, _ = run_like_a_web_process(lambda: post_message(MessageSendFastPath(django), customer_client.tokens["access"], session_id,
                                         {"client_message_id": "c-1", "text": "halo"}))

    assert (status, django.calls) == (401, 1), body
    assert not Message.objects.exists()


def test_the_same_client_message_id_sent_at_once_is_one_message(active_chat, settings):
    """Real race: twenty sends of one message, on the loop's own database connections."""
    settings.WEB_ASYNC_DB_POOL_SIZE = 8
    session_id, customer_client, _ = active_chat()
    token = customer_client.tokens["access"]

    async def scenario():
        return await asyncio.gather(*(
            post_message(application, token, session_id, {"client_message_id": "c-1", "text": "halo"}) for _ in range(20)
        ))

    answers = run_like_a_web_process(scenario)

    assert sorted(status for status, _, _ in answers) == [200] * 19 + [201]
    assert len({body["id"] for _, body, _ in answers}) == 1
    assert Message.objects.filter(chat_session_id=session_id).count() == 1


def test_many_sends_of_both_sides_at_once_are_all_stored_once(active_chat):
    session_id, customer_client, mitra_client = active_chat()
    sides = [(customer_client.tokens["access"], "c"), (mitra_client.tokens["access"], "m")]

    async def scenario():
        return await asyncio.gather(*(
            post_message(application, token, session_id, {"client_message_id": f"{prefix}-{i}", "text": f"pesan {i}"})
            for i in range(100) for token, prefix in sides
        ))

    answers = run_like_a_web_process(scenario)

    assert [status for status, _, _ in answers] == [201] * 200
    stored = Message.objects.filter(chat_session_id=session_id)
    assert stored.count() == 200
    assert {(m.sender, m.client_message_id[0]) for m in stored} == {("customer", "c"), ("mitra", "m")}


def test_database_trouble_on_the_loop_leaves_the_send_to_django(active_chat, settings, monkeypatch, caplog):
    session_id, customer_client, _ = active_chat()
    settings.WEB_ASYNC_DB_TIMEOUT = 0.5
    real = async_db._connection_kwargs
    monkeypatch.setattr(async_db, "_connection_kwargs", lambda: {**real(), "host": "127.0.0.1", "port": 1, "connect_timeout": 1})
    django = RecordingApp(django_http_app)

    with caplog.at_level(logging.WARNING, logger="chat.api.fast_paths"):
        status, body, _ = run_like_a_web_process(lambda: post_message(MessageSendFastPath(django), customer_client.tokens["access"], session_id,
                                             {"client_message_id": "c-1", "text": "halo"}))

    assert (status, django.calls) == (201, 1), body
    assert body == _as_api(Message.objects.get(client_message_id="c-1"))
    assert "message send fast path" in caplog.text
    assert ChatSession.objects.get(id=session_id).status == "active"
