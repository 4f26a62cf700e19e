"""Every row of SPEC §6's outcome table, seen from both apps' websockets: the one
status, ``ends_at`` moved or not, the payment consumed and charged once or released
uncharged, the one audit row, ``extension_resolved`` to both sides, no
"session closing". Then how an extension holds the session's end (SPEC §5.4 + §6),
and the safeguard of §5.4's scenario (the mitra goes offline mid-session).

The mitra's window is not waited for here: ``deadline_at`` is moved into the past and
the timer's handler (the task's service, or the beat backstop) is called.
test_e2e_worker.py runs each row through a real Celery worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from extensions.models import Extension, ExtensionAudit
from extensions.services import extension_deadline_fire
from extensions.tests.outcome_table import ROWS, assert_resolved_once, fire_timeout, heartbeat_aged, ping, resolved_event
from extensions.tests.state import EXTENSION_MINUTES, approve_url, deadline_passed, decline_url, ends_at_passed, extension_state
from pairing.representations import iso_datetime
from pairing.deadlines import chat_timer_fire, due_deadlines_fire
from pairing.tests.live import CLIENT_WS, MITRA_WS, close_sockets, off_loop, open_socket, received_by_all
from payments.models import PaymentSession, Transaction
from realtime.models import PushOutbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_each_outcome_of_the_table(row, live_session, request_extension, settings_now):
    # given: an active session; the mitra's app as the row says; the default action
    settings_now(extension_default_action_on_timeout=row.default)
    live = live_session()
    ends_before = live.session.ends_at
    pushes_before = PushOutbox.objects.count()

    async def scenario():
        customer_socket = await open_socket(CLIENT_WS, live.customer_client)
        mitra_socket = None
        if row.mitra != "never_connected":
            mitra_socket = await open_socket(MITRA_WS, live.mitra_client)
            await ping(mitra_socket)
        if row.offline:
            response = await off_loop(lambda: live.mitra_client.post("/api/mitra/status/offline"))
            assert response.status_code == 200 and response.json() == {"status": "offline"}
        extension = await off_loop(lambda: request_extension(live))
        sockets = [s for s in (customer_socket, mitra_socket) if s]
        requested = await received_by_all(sockets)
        if row.mitra == "socket_closed":
            await mitra_socket.disconnect()
            sockets.remove(mitra_socket)
        if row.mitra == "heartbeat_stale":
            await off_loop(lambda: heartbeat_aged(live.mitra.id, seconds=31))

        # when: the mitra answers, or nobody does and the window ends
        if row.answer:
            url = (approve_url if row.answer == "approve" else decline_url)(extension["id"])
            response = await off_loop(lambda: live.mitra_client.post(url))
            assert response.status_code == 200, response.json()
            assert response.json()["status"] == row.status
        else:
            fired = await off_loop(lambda: fire_timeout(extension["id"], row.fire))
            assert fired == (1 if row.fire == "backstop" else True)
        resolved = await received_by_all(sockets)

        # and then: the window ending after an answer, or the timer firing again, changes nothing
        await off_loop(lambda: deadline_passed(extension["id"]))
        after = await off_loop(extension_state)
        assert await off_loop(lambda: extension_deadline_fire(extension_id=extension["id"])) is False
        assert await off_loop(lambda: due_deadlines_fire()) == 0
        assert await off_loop(extension_state) == after
        assert await received_by_all(sockets) == [[] for _ in sockets]
        await close_sockets(sockets)
        return extension, requested, resolved

    extension, requested, resolved = asyncio.run(scenario())

    # then: the mitra was asked (when a socket was open), the customer was not
    if row.mitra != "never_connected":
        assert [e["type"] for e in requested[-1]] == ["extension_request"]
    assert requested[0] == []
    # then: exactly one outcome, charged iff approved, ends_at moved iff approved; the session goes on
    assert live.session.status == "active"
    actor_id = live.mitra.id if row.answer else None
    session = assert_resolved_once(extension["id"], status=row.status, tag=row.tag, ends_before=ends_before, actor_id=actor_id)
    if not row.answer:
        audit = ExtensionAudit.objects.get(extension_id=extension["id"])
        assert (audit.mitra_online, audit.mitra_connected) == (not row.offline, row.mitra == "connected")
    # then: both sides' open sockets got extension_resolved, and nothing about closing
    event = resolved_event(extension["id"], row.status, session)
    assert resolved == [[event] for _ in resolved]
    assert len(resolved) == (1 if row.mitra in ("never_connected", "socket_closed") else 2)
    assert PushOutbox.objects.count() == pushes_before
    assert live.customer_client.get(f"/api/client/extensions/{extension['id']}").json()["status"] == row.status


# --- the session's end waits for the outcome --------------------------------------------------
def _closing_events(events: list[list[dict]]) -> list[dict]:
    return [e for side in events for e in side if e["type"] in ("session_closing", "session_completed")]


@pytest.mark.parametrize("fire", ["session task", "backstop"])
def test_ends_at_passing_while_an_extension_is_pending_holds_the_session_until_an_approval_moves_it(
    fire, live_session, request_extension, settings_now
):
    settings_now(closing_goodbye_seconds=60)
    live = live_session()
    pushes_before = PushOutbox.objects.count()

    async def scenario():
        sockets = [await open_socket(CLIENT_WS, live.customer_client), await open_socket(MITRA_WS, live.mitra_client)]
        await ping(sockets[1])
        extension = await off_loop(lambda: request_extension(live))
        await received_by_all(sockets)

        # given: ends_at passes while the mitra has not answered yet
        await off_loop(lambda: ends_at_passed(live.id, seconds=5))
        old_ends_at = await off_loop(lambda: live.session.ends_at)

        # when: the session's timer fires → it does not close
        if fire == "backstop":
            assert await off_loop(lambda: due_deadlines_fire()) == 0
        else:
            assert await off_loop(lambda: chat_timer_fire(chat_session_id=live.id)) is False
        held = await received_by_all(sockets)
        status_held = await off_loop(lambda: live.session.status)

        # when: the mitra approves
        response = await off_loop(lambda: live.mitra_client.post(approve_url(extension["id"])))
        assert response.status_code == 200
        resolved = await received_by_all(sockets)
        new_ends_at = await off_loop(lambda: live.session.ends_at)
        closing_pushes = await off_loop(lambda: PushOutbox.objects.filter(data__type="session_closing").count())

        # then: the timer does nothing before the new ends_at, and closes the session at it
        assert await off_loop(lambda: chat_timer_fire(chat_session_id=live.id, now=new_ends_at - timedelta(seconds=1))) is False
        assert await off_loop(lambda: due_deadlines_fire(now=new_ends_at - timedelta(seconds=1))) == 0
        status_before_new_end = await off_loop(lambda: live.session.status)
        assert await off_loop(lambda: chat_timer_fire(chat_session_id=live.id, now=new_ends_at)) is True
        closing = await received_by_all(sockets)
        await close_sockets(sockets)
        return extension, old_ends_at, held, status_held, resolved, new_ends_at, closing_pushes, status_before_new_end, closing

    extension, old_ends_at, held, status_held, resolved, new_ends_at, closing_pushes, status_before_new_end, closing = asyncio.run(
        scenario()
    )

    assert status_held == "active" and held == [[], []]
    assert new_ends_at == old_ends_at + timedelta(minutes=EXTENSION_MINUTES)
    assert status_before_new_end == "active"
    # no "session closing" went out before the approval that won
    assert _closing_events(held + resolved) == []
    assert closing_pushes == 0
    assert [[e["type"] for e in side] for side in resolved] == [["extension_resolved"], ["extension_resolved"]]
    assert resolved[0][0]["ends_at"] == iso_datetime(new_ends_at)
    # only now, at the new ends_at, the goodbye phase begins
    session = live.session
    assert session.status == "closing"
    expected = {"type": "session_closing", "chat_session_id": live.id, "closes_at": iso_datetime(session.closes_at)}
    assert closing == [[expected], [expected]]
    assert sorted(PushOutbox.objects.filter(data__type="session_closing").values_list("user_id", flat=True)) == sorted(
        [live.customer.id, live.mitra.id]
    )
    assert PushOutbox.objects.count() == pushes_before + 2
    assert_resolved_once(extension["id"], status="approved", tag="extension_approved", ends_before=old_ends_at, actor_id=live.mitra.id)


@pytest.mark.parametrize("how", ["decline", "auto_reject timeout", "safeguard timeout"])
def test_after_a_rejection_a_session_past_its_ends_at_closes_at_the_next_timer_run(
    how, live_session, request_extension, settings_now
):
    settings_now(closing_goodbye_seconds=60, extension_default_action_on_timeout="auto_reject" if how == "auto_reject timeout" else "auto_approve")
    live = live_session()

    async def scenario():
        sockets = [await open_socket(CLIENT_WS, live.customer_client), await open_socket(MITRA_WS, live.mitra_client)]
        await ping(sockets[1])
        extension = await off_loop(lambda: request_extension(live))
        await received_by_all(sockets)
        await off_loop(lambda: ends_at_passed(live.id, seconds=5))
        assert await off_loop(lambda: chat_timer_fire(chat_session_id=live.id)) is False  # held

        if how == "decline":
            assert (await off_loop(lambda: live.mitra_client.post(decline_url(extension["id"])))).status_code == 200
            fired = await off_loop(lambda: chat_timer_fire(chat_session_id=live.id))
        else:
            if how == "safeguard timeout":
                await off_loop(lambda: live.mitra_client.post("/api/mitra/status/offline"))
            await off_loop(lambda: deadline_passed(extension["id"]))
            # one backstop run: the extension's outcome first, then the end it was holding
            fired = await off_loop(lambda: due_deadlines_fire())
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return extension, fired, events

    extension, fired, events = asyncio.run(scenario())

    assert fired == (True if how == "decline" else 2)
    extension_row = Extension.objects.get(id=extension["id"])
    assert extension_row.status == ("safeguard_rejected" if how == "safeguard timeout" else "rejected")
    session = live.session
    assert session.status == "closing"
    assert PaymentSession.objects.get(id=extension["payment_session_id"]).status == "released"
    assert Transaction.objects.filter(payment_session_id=extension["payment_session_id"]).count() == 0
    closing = {"type": "session_closing", "chat_session_id": live.id, "closes_at": iso_datetime(session.closes_at)}
    resolved = resolved_event(extension["id"], extension_row.status, session)
    assert events == [[resolved, closing], [resolved, closing]]


def test_an_auto_approval_by_the_backstop_wins_over_the_end_it_was_holding(live_session, request_extension, settings_now):
    settings_now(extension_default_action_on_timeout="auto_approve")
    live = live_session()

    async def scenario():
        sockets = [await open_socket(CLIENT_WS, live.customer_client), await open_socket(MITRA_WS, live.mitra_client)]
        await ping(sockets[1])
        extension = await off_loop(lambda: request_extension(live))
        await received_by_all(sockets)
        await off_loop(lambda: ends_at_passed(live.id, seconds=5))
        await off_loop(lambda: deadline_passed(extension["id"]))
        ends_before = await off_loop(lambda: live.session.ends_at)
        # when: both deadlines are past and one backstop run sees them
        fired = await off_loop(lambda: due_deadlines_fire())
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return extension, ends_before, fired, events

    extension, ends_before, fired, events = asyncio.run(scenario())

    assert fired == 1  # the extension only: its approval moved ends_at out of reach
    session = assert_resolved_once(extension["id"], status="auto_approved", tag="extension_auto_approved", ends_before=ends_before)
    assert events == [[resolved_event(extension["id"], "auto_approved", session)]] * 2
    assert not PushOutbox.objects.filter(data__type="session_closing").exists()


# --- sessions that ended while the extension waited -------------------------------------------
def test_an_approval_after_the_customer_ended_the_session_is_refused_and_the_timer_rejects_it(
    live_session, request_extension
):
    live = live_session()
    extension = request_extension(live)
    assert live.customer_client.post(f"/api/client/chat/{live.id}/end").status_code == 200
    before = extension_state()

    response = live.mitra_client.post(approve_url(extension["id"]))

    assert (response.status_code, response.json()["code"]) == (409, "session_not_active")
    assert extension_state() == before

    deadline_passed(extension["id"])
    assert extension_deadline_fire(extension_id=extension["id"]) is True
    assert Extension.objects.get(id=extension["id"]).status == "rejected"
    assert list(ExtensionAudit.objects.filter(extension_id=extension["id"]).values_list("tag", flat=True)) == ["extension_rejected"]
    assert PaymentSession.objects.get(id=extension["payment_session_id"]).status == "released"
    assert Transaction.objects.filter(payment_session_id=extension["payment_session_id"]).count() == 0
    assert live.session.status == "completed"


def test_the_timer_before_the_deadline_changes_nothing(live_session, request_extension):
    live = live_session()
    extension = request_extension(live)
    before = extension_state()

    assert extension_deadline_fire(extension_id=extension["id"]) is False
    assert due_deadlines_fire() == 0

    assert extension_state() == before


# --- SPEC §5.4's scenario: the mitra goes offline mid-session -------------------------------
def test_a_mitra_going_offline_mid_session_keeps_the_session_and_the_safeguard_rejects_the_extension(
    live_session, request_extension, settings_now
):
    settings_now(extension_default_action_on_timeout="auto_approve")
    live = live_session()
    ends_before = live.session.ends_at

    async def scenario():
        sockets = [await open_socket(CLIENT_WS, live.customer_client), await open_socket(MITRA_WS, live.mitra_client)]
        await ping(sockets[1])
        # when: the mitra goes offline mid-session
        response = await off_loop(lambda: live.mitra_client.post("/api/mitra/status/offline"))
        assert response.status_code == 200
        went_offline = await received_by_all(sockets)
        mitra_view = await off_loop(lambda: live.mitra_client.get("/api/mitra/sessions", {"status": "active"}).json())
        # the customer asks for more time, nobody answers
        extension = await off_loop(lambda: request_extension(live))
        await received_by_all(sockets)
        assert await off_loop(lambda: fire_timeout(extension["id"], "task")) is True
        resolved = await received_by_all(sockets)
        await close_sockets(sockets)
        return went_offline, mitra_view, extension, resolved

    went_offline, mitra_view, extension, resolved = asyncio.run(scenario())

    # then: going offline neither ended nor interrupted the session
    assert went_offline == [[], []]
    assert [s["id"] for s in mitra_view["results"]] == [live.id]
    # then: at the timeout the safeguard rejected it: released, never charged, the session goes on
    session = assert_resolved_once(extension["id"], status="safeguard_rejected", tag="extension_safeguard_tripped", ends_before=ends_before)
    audit = ExtensionAudit.objects.get(extension_id=extension["id"])
    assert (audit.actor_id, audit.mitra_online, audit.mitra_connected) == (None, False, True)
    assert resolved == [[resolved_event(extension["id"], "safeguard_rejected", session)]] * 2
    assert session.ended_by == "" and session.ended_at is None
