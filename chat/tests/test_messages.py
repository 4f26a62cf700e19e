"""Messages (API.md "Messages", SPEC §5.4): text sent by REST with a client-generated id
(idempotent), pushed by websocket to the other side and the sender's other devices,
delivered and read receipts; participants only; one goodbye each while closing."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Message
from pairing import deadlines
from pairing.models import ChatSession
from pairing.representations import iso_datetime
from conftest import eventually
from pairing.tests.live import CLIENT_WS, MITRA_WS, as_text, assert_anonymous, close_sockets, off_loop, open_sockets, received_by_all



# --- helpers ---------------------------------------------------------------------------------
def _messages_url(session_id) -> str:
    return f"/api/chat/{session_id}/messages"


def _send(client, session_id, client_message_id: str, text: str):
    return client.post(_messages_url(session_id), {"client_message_id": client_message_id, "text": text}, format="json")


def _mark(client, session_id, kind: str, up_to):
    return client.post(f"/api/chat/{session_id}/messages/{kind}", {"up_to": str(up_to)}, format="json")


def _listed(client, session_id, after=None) -> list[dict]:
    response = client.get(_messages_url(session_id), {"after": str(after)} if after else {})
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def _as_api(message: Message) -> dict:
    return {
        "id": str(message.id), "chat_session_id": str(message.chat_session_id), "sender": message.sender, "text": message.text,
        "client_message_id": message.client_message_id, "created_at": iso_datetime(message.created_at),
        "delivered_at": iso_datetime(message.delivered_at), "read_at": iso_datetime(message.read_at),
    }


def _messages_state() -> list[tuple]:
    return sorted(
        Message.objects.values_list("id", "chat_session_id", "sender", "text", "client_message_id", "delivered_at", "read_at")
    )


def _to_closing(session_id) -> None:
    ChatSession.objects.filter(id=session_id).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert deadlines.chat_timer_fire(chat_session_id=session_id) is True
    assert ChatSession.objects.get(id=session_id).status == "closing"


def _to_completed(session_id) -> None:
    ChatSession.objects.filter(id=session_id).update(closes_at=timezone.now() - timedelta(seconds=1))
    assert deadlines.chat_timer_fire(chat_session_id=session_id) is True
    assert ChatSession.objects.get(id=session_id).status == "completed"


# --- sending, pushing, receipts -----------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_message_reaches_the_other_side_and_the_senders_other_device_and_receipts_come_back(active_chat):
    # given: the customer on two devices, the mitra on one
    session_id, customer_client, mitra_client = active_chat()
    customer = customer_client.user

    async def scenario():
        phone, tablet = await open_sockets(CLIENT_WS, [customer_client, customer_client])
        [mitra_socket] = await open_sockets(MITRA_WS, [mitra_client])
        sockets = [phone, tablet, mitra_socket]
        steps = {}
        for name, call in [
            ("sent", lambda: _send(customer_client, session_id, "c-1", "Halo, aku mau cerita")),
            ("replayed", lambda: _send(customer_client, session_id, "c-1", "Halo, aku mau cerita")),
            ("reply", lambda: _send(mitra_client, session_id, "m-1", "Halo Ayu, aku dengerin")),
            ("delivered", lambda: _mark(mitra_client, session_id, "delivered", Message.objects.get(client_message_id="c-1").id)),
            ("read", lambda: _mark(mitra_client, session_id, "read", Message.objects.get(client_message_id="c-1").id)),
            ("read_again", lambda: _mark(mitra_client, session_id, "read", Message.objects.get(client_message_id="c-1").id)),
        ]:
            response = await off_loop(call)
            steps[name] = (response, await received_by_all(sockets))
        await close_sockets(sockets)
        return steps

    # when
    steps = asyncio.run(scenario())

    # then: 201 with the message; the mitra and both customer devices get it
    sent, after_send = steps["sent"]
    first = Message.objects.get(client_message_id="c-1")
    assert sent.status_code == 201, sent.json()
    assert sent.json() == {
        "id": str(first.id), "chat_session_id": session_id, "sender": "customer", "text": "Halo, aku mau cerita",
        "client_message_id": "c-1", "created_at": iso_datetime(first.created_at), "delivered_at": None, "read_at": None,
    }
    assert after_send == [[{"type": "message", "message": sent.json()}]] * 3

    # then: the same client_message_id again is the same message, pushed to nobody again
    replayed, after_replay = steps["replayed"]
    assert (replayed.status_code, replayed.json()) == (200, sent.json())
    assert after_replay == [[], [], []]
    assert Message.objects.filter(chat_session_id=session_id, sender="customer").count() == 1

    # then: the mitra's reply reaches both customer devices and echoes to the mitra
    reply, after_reply = steps["reply"]
    assert reply.status_code == 201
    assert (reply.json()["sender"], reply.json()["text"], reply.json()["client_message_id"]) == ("mitra", "Halo Ayu, aku dengerin", "m-1")
    assert after_reply == [[{"type": "message", "message": reply.json()}]] * 3

    # then: delivered, then read; each receipt goes to the sender (the customer) only
    delivered, after_delivered = steps["delivered"]
    assert (delivered.status_code, delivered.json()) == (200, {"kind": "delivered", "up_to": str(first.id), "updated": 1})
    receipt = {"type": "receipt", "chat_session_id": session_id, "up_to": str(first.id)}
    assert after_delivered == [[{**receipt, "kind": "delivered"}]] * 2 + [[]]
    read, after_read = steps["read"]
    assert (read.status_code, read.json()) == (200, {"kind": "read", "up_to": str(first.id), "updated": 1})
    assert after_read == [[{**receipt, "kind": "read"}]] * 2 + [[]]
    read_again, after_read_again = steps["read_again"]
    assert (read_again.status_code, read_again.json()) == (200, {"kind": "read", "up_to": str(first.id), "updated": 0})
    assert after_read_again == [[], [], []]

    first.refresh_from_db()
    assert first.delivered_at is not None and first.read_at is not None and first.delivered_at <= first.read_at
    mine = Message.objects.get(client_message_id="m-1")
    assert (mine.delivered_at, mine.read_at) == (None, None)
    assert _listed(customer_client, session_id) == [_as_api(first), _as_api(mine)]

    # then: nothing the mitra got names the customer
    mitra_got = [after_send[2], after_reply[2], sent.json(), reply.json(), delivered.json(), read.json(), _listed(mitra_client, session_id)]
    assert_anonymous(mitra_got, customer)


@pytest.mark.django_db
def test_the_same_client_message_id_returns_the_first_message_even_with_another_text(active_chat):
    # given
    session_id, customer_client, mitra_client = active_chat()
    first = _send(customer_client, session_id, "dup-1", "satu")
    assert first.status_code == 201

    # when
    again = _send(customer_client, session_id, "dup-1", "dua")
    other_side = _send(mitra_client, session_id, "dup-1", "dari bestie")

    # then: one row for the customer's id; the other side's same id is its own message
    assert (again.status_code, again.json()) == (200, first.json())
    assert other_side.status_code == 201 and other_side.json()["id"] != first.json()["id"]
    assert list(Message.objects.order_by("created_at").values_list("sender", "client_message_id", "text")) == [
        ("customer", "dup-1", "satu"), ("mitra", "dup-1", "dari bestie"),
    ]


@pytest.mark.django_db
def test_history_is_oldest_first_and_after_gives_what_came_later(active_chat):
    # given: five messages, alternating
    session_id, customer_client, mitra_client = active_chat()
    ids = []
    for i in range(5):
        client = customer_client if i % 2 == 0 else mitra_client
        response = _send(client, session_id, f"id-{i}", f"pesan {i}")
        assert response.status_code == 201
        ids.append(response.json()["id"])

    # when / then: both participants see the same history
    expected = [_as_api(Message.objects.get(id=i)) for i in ids]
    assert _listed(customer_client, session_id) == expected
    assert _listed(mitra_client, session_id) == expected
    assert [m["sender"] for m in expected] == ["customer", "mitra", "customer", "mitra", "customer"]
    assert _listed(customer_client, session_id, after=ids[1]) == expected[2:]
    assert _listed(mitra_client, session_id, after=ids[4]) == []


@pytest.mark.django_db
def test_history_after_an_unknown_message_is_404(active_chat):
    session_id, customer_client, _ = active_chat()
    other_id, other_customer, _ = active_chat()
    elsewhere = _send(other_customer, other_id, "x-1", "di sesi lain").json()["id"]

    for after in (uuid.uuid4(), elsewhere):
        response = customer_client.get(_messages_url(session_id), {"after": str(after)})
        assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.django_db
def test_receipts_mark_only_the_other_sides_messages_up_to_the_one_named(active_chat):
    # given: three from the customer, then one from the mitra
    session_id, customer_client, mitra_client = active_chat()
    c1, c2, c3 = (_send(customer_client, session_id, f"c-{i}", f"c{i}").json()["id"] for i in range(1, 4))
    m1 = _send(mitra_client, session_id, "m-1", "m1").json()["id"]

    def marks() -> dict:
        return {
            str(i): (d is not None, r is not None)
            for i, d, r in Message.objects.values_list("id", "delivered_at", "read_at")
        }

    # when / then: the mitra got the first two
    response = _mark(mitra_client, session_id, "delivered", c2)
    assert response.json() == {"kind": "delivered", "up_to": c2, "updated": 2}
    assert marks() == {c1: (True, False), c2: (True, False), c3: (False, False), m1: (False, False)}

    # when / then: the customer read the mitra's message (read implies delivered); naming it
    # touches none of the customer's own messages
    response = _mark(customer_client, session_id, "read", m1)
    assert response.json() == {"kind": "read", "up_to": m1, "updated": 1}
    assert marks() == {c1: (True, False), c2: (True, False), c3: (False, False), m1: (True, True)}

    # when / then: the mitra read everything up to the third
    response = _mark(mitra_client, session_id, "read", c3)
    assert response.json() == {"kind": "read", "up_to": c3, "updated": 3}
    assert marks() == {c1: (True, True), c2: (True, True), c3: (True, True), m1: (True, True)}


@pytest.mark.django_db
def test_a_receipt_up_to_an_unknown_message_is_404_and_changes_nothing(active_chat):
    session_id, customer_client, mitra_client = active_chat()
    _send(customer_client, session_id, "c-1", "halo")
    before = _messages_state()

    response = _mark(mitra_client, session_id, "read", uuid.uuid4())

    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert _messages_state() == before


# --- who may, and when ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_only_the_two_participants_may_send_list_or_mark_and_nothing_changes_for_others(
    active_chat, make_customer, make_mitra, api_client_for, operator_client
):
    # given: a session with a message; a stranger of each role
    session_id, customer_client, _ = active_chat()
    message_id = _send(customer_client, session_id, "c-1", "rahasia").json()["id"]
    strangers = [api_client_for(make_customer()), api_client_for(make_mitra())]
    before = _messages_state()

    for stranger in strangers:
        # when
        responses = [
            _send(stranger, session_id, "s-1", "ikut dong"),
            stranger.get(_messages_url(session_id)),
            _mark(stranger, session_id, "delivered", message_id),
            _mark(stranger, session_id, "read", message_id),
        ]
        # then
        assert [(r.status_code, r.json()["code"]) for r in responses] == [(404, "not_found")] * 4
        assert "rahasia" not in as_text([r.json() for r in responses])

    # then: operators are no chat participant either
    assert operator_client.get(_messages_url(session_id)).status_code == 403
    assert _messages_state() == before


@pytest.mark.django_db
def test_sending_while_waiting_or_completed_is_409_session_not_active_and_changes_nothing(
    active_chat, make_customer, online_mitra, confirmed_payment, api_client_for
):
    # given: a waiting attempt, and a completed session that had a message
    online_mitra()
    waiting_customer = api_client_for(make_customer())
    waiting = waiting_customer.post(
        "/api/client/chat/start", {"payment_session_id": str(confirmed_payment(waiting_customer.user).id)}, format="json"
    ).json()
    session_id, customer_client, mitra_client = active_chat()
    assert _send(customer_client, session_id, "c-1", "halo").status_code == 201
    _to_closing(session_id)
    _to_completed(session_id)
    before = _messages_state()

    # when
    responses = [
        _send(waiting_customer, waiting["id"], "w-1", "halo?"),
        _send(customer_client, session_id, "c-2", "masih di sana?"),
        _send(mitra_client, session_id, "m-1", "sudah selesai"),
    ]

    # then
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(409, "session_not_active")] * 3
    assert _messages_state() == before
    # a replay of a message already sent is still answered with it
    assert _send(customer_client, session_id, "c-1", "halo").status_code == 200


@pytest.mark.django_db
def test_while_closing_each_side_may_send_one_goodbye(active_chat):
    # given: both talked during the session, now it is closing
    session_id, customer_client, mitra_client = active_chat()
    assert _send(customer_client, session_id, "c-1", "makasih ya").status_code == 201
    assert _send(mitra_client, session_id, "m-1", "sama-sama").status_code == 201
    _to_closing(session_id)

    # when / then: the customer's first goodbye goes through, a second does not
    goodbye = _send(customer_client, session_id, "c-bye", "dadah")
    assert (goodbye.status_code, goodbye.json()["sender"]) == (201, "customer")
    before = _messages_state()
    second = _send(customer_client, session_id, "c-bye-2", "dadah lagi")
    assert (second.status_code, second.json()["code"]) == (409, "goodbye_already_sent")
    assert _messages_state() == before
    replay = _send(customer_client, session_id, "c-bye", "dadah")
    assert (replay.status_code, replay.json()) == (200, goodbye.json())

    # when / then: the mitra still has their one
    mitra_goodbye = _send(mitra_client, session_id, "m-bye", "jaga diri ya")
    assert (mitra_goodbye.status_code, mitra_goodbye.json()["sender"]) == (201, "mitra")
    before = _messages_state()
    mitra_second = _send(mitra_client, session_id, "m-bye-2", "satu lagi")
    assert (mitra_second.status_code, mitra_second.json()["code"]) == (409, "goodbye_already_sent")
    assert _messages_state() == before
    assert [m["client_message_id"] for m in _listed(customer_client, session_id)] == ["c-1", "m-1", "c-bye", "m-bye"]


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_message_the_timer_waited_for_is_no_goodbye_so_the_goodbye_still_goes_through(active_chat):
    """Real race: the session is past ``ends_at`` and the timer fires while a send (still in
    ``active``) holds the session row. The message committed before the session closed is
    a session message, not the sender's goodbye."""
    # given: the session is due; a send is held between its session lock and its insert
    # (another transaction has an uncommitted row with the same client_message_id, so
    # the insert waits to see whether it commits), and the timer queues behind it
    session_id, customer_client, _ = active_chat()
    session = ChatSession.objects.get(id=session_id)
    ChatSession.objects.filter(id=session_id).update(ends_at=timezone.now() - timedelta(seconds=1))
    locked, release = threading.Event(), threading.Event()
    results = {}

    def in_thread(name, fn):
        def run():
            try:
                results[name] = fn()
            except BaseException as exc:  # noqa: BLE001 - reported below
                results[name] = exc
            finally:
                connections.close_all()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def hold_the_client_message_id():
        with transaction.atomic():
            Message.objects.create(
                chat_session_id=session_id, sender="customer", sender_user_id=session.customer_id,
                text="(never committed)", client_message_id="c-late",
            )
            locked.set()
            release.wait(30)
            transaction.set_rollback(True)

    holder = in_thread("holder", hold_the_client_message_id)
    assert locked.wait(20)
    sender = in_thread("send", lambda: _send(customer_client, session_id, "c-late", "eh, satu lagi"))
    eventually(lambda: _lock_waiters() >= 1, "the send waiting on the lock", timeout=20)
    timer = in_thread("timer", lambda: deadlines.chat_timer_fire(chat_session_id=session_id))
    eventually(lambda: _lock_waiters() >= 2, "the timer waiting on the lock too", timeout=20)

    # when: the send goes through first, then the timer closes the session
    release.set()
    for thread in (holder, sender, timer):
        thread.join(30)
    assert results["send"].status_code == 201, results
    assert results["timer"] is True, results
    assert ChatSession.objects.get(id=session_id).status == "closing"

    # then: the customer's goodbye is still theirs to send
    goodbye = _send(customer_client, session_id, "c-bye", "dadah")
    assert goodbye.status_code == 201, goodbye.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"client_message_id": "c-1", "text": ""},
        {"client_message_id": "c-1", "text": "   \n "},
        {"client_message_id": "c-1"},
        {"text": "tanpa id"},
        {"client_message_id": "c-1", "text": "x" * 4001},
    ],
    ids=["empty", "blank", "no-text", "no-client-id", "too-long"],
)
def test_a_bad_message_is_400_and_changes_nothing(body, active_chat):
    session_id, customer_client, _ = active_chat()
    before = _messages_state()

    response = customer_client.post(_messages_url(session_id), body, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_input")
    assert _messages_state() == before


# --- query counts ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_sending_a_message_costs_a_fixed_number_of_queries(active_chat, django_assert_num_queries):
    session_id, customer_client, _ = active_chat()
    assert _send(customer_client, session_id, "warm", "halo").status_code == 201

    # user; the one statement that locks the session and inserts (chat/services.py); and
    # the atomic block's savepoint pair (BEGIN/COMMIT outside the test transaction, which
    # are not logged)
    with django_assert_num_queries(4):
        response = _send(customer_client, session_id, "c-1", "aku lagi sedih")
    assert response.status_code == 201


@pytest.mark.django_db
def test_the_history_costs_the_same_for_three_or_fifty_messages(active_chat, django_assert_num_queries):
    # given
    session_id, customer_client, mitra_client = active_chat()
    for i in range(3):
        _send(customer_client, session_id, f"c-{i}", f"pesan {i}")
    with CaptureQueriesContext(connection) as three:
        assert len(_listed(mitra_client, session_id)) == 3
    three_queries = [q["sql"] for q in three.captured_queries]  # read now: the next request resets the log
    for i in range(3, 50):
        _send(customer_client if i % 2 else mitra_client, session_id, f"x-{i}", f"pesan {i}")

    # when / then: user, session, messages
    assert len(three_queries) == 3, three_queries
    with django_assert_num_queries(3):
        assert len(_listed(mitra_client, session_id)) == 50


@pytest.mark.django_db
def test_a_long_history_comes_in_pages_with_has_more(active_chat):
    # given: 205 messages (a page holds 200)
    session_id, customer_client, _ = active_chat()
    session = ChatSession.objects.get(id=session_id)
    messages = Message.objects.bulk_create(
        [
            Message(chat_session=session, sender="customer", sender_user=session.customer, text=f"m{i}", client_message_id=f"bulk-{i}")
            for i in range(205)
        ]
    )
    start = timezone.now()
    for i, message in enumerate(messages):  # distinct, increasing times (auto_now_add gives near-equal ones)
        message.created_at = start + timedelta(milliseconds=i)
    Message.objects.bulk_update(messages, ["created_at"])

    # when
    first = customer_client.get(_messages_url(session_id)).json()
    rest = customer_client.get(_messages_url(session_id), {"after": first["results"][-1]["id"]}).json()

    # then
    assert (len(first["results"]), first["has_more"]) == (200, True)
    assert ([m["text"] for m in rest["results"]], rest["has_more"]) == (["m200", "m201", "m202", "m203", "m204"], False)
