"""End to end: every row of SPEC §6's outcome table with a real Celery worker firing
the extension timer (the ``fire_extension_deadline`` task enqueued after the
request's commit, ``eta`` = its deadline), both apps on real websockets. Then the
session's end through the same worker: at the new ``ends_at`` after an approval,
right away after a rejection.

The window is shortened the way operators do it (``extension_timeout_seconds``);
nothing in the code is patched."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from extensions.models import Extension, ExtensionAudit
from extensions.tests.outcome_table import ROWS, assert_resolved_once, ping, resolved_event
from extensions.tests.state import approve_url, decline_url, extension_state
from pairing.models import ChatSession
from pairing.representations import iso_datetime
from pairing.deadlines import chat_timer_fire
from pairing.tests.live import CLIENT_WS, MITRA_WS, close_sockets, off_loop, open_socket, received_by_all
from payments.models import PaymentSession, TierKind, Transaction
from realtime.models import PushOutbox

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_SECONDS = 2
ANSWER_TIMEOUT_SECONDS = 4  # room for the mitra's answer to land inside the window on a loaded machine
EXTENSION_TASK = "extensions.tasks.fire_extension_deadline"
# the backstop rows reach the same handler; a stale heartbeat reads exactly like no socket (both tested in-process)
E2E_ROWS = {name: row for name, row in ROWS.items() if row.fire == "task" and row.mitra != "heartbeat_stale"}


class WorkerLog:
    """What the module's worker logged since this test began."""

    def __init__(self, process) -> None:
        self.process = process
        self.offset = len(process.log_path.read_text())

    def task_results(self, task: str) -> list[str]:
        """The return values the worker logged for ``task``, in order."""
        text = self.process.log_path.read_text()[self.offset :]
        return re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded in [0-9.e-]+s: (\w+)", text)

    async def wait_for_task(self, task: str, *, count: int = 1, timeout: float = 90) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            results = self.task_results(task)
            if len(results) >= count:
                return results
            await asyncio.sleep(0.1)
        raise AssertionError(f"{task} never ran {count}x:\n{self.process.log_path.read_text()[-3000:]}")


async def next_event(socket, event_type: str, *, timeout: float = 90) -> tuple[dict, float]:
    """The socket's next event, which must be an ``event_type``, and when it came."""
    event = await socket.receive_json_from(timeout=timeout)
    assert event["type"] == event_type, f"expected {event_type}, got {event}"
    return event, time.time()


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, tmp_path_factory):
    """One real ``celery -A config worker`` (the root conftest's ``CeleryProcess``) for
    the whole module, on the test database and Redis: starting one per test would
    cost more than the tests. Each test waits for its own extension timer to run, so
    none leaks into the next; messages left by earlier modules are purged first."""
    from conftest import CeleryProcess

    from config import celery_app

    celery_app.control.purge()
    process = CeleryProcess("worker", tmp_path_factory.mktemp("celery") / "celery-worker.log")
    try:
        process.wait_for("ready.")
        yield process
    finally:
        process.kill()


@pytest.fixture
def worker(celery_worker, settings_now) -> WorkerLog:
    # the worker's settings cache may hold a value of an earlier test whose rows the flush
    # removed without an invalidation: every key a worker reads here is saved again
    settings_now(extension_timeout_seconds=TIMEOUT_SECONDS, closing_goodbye_seconds=60)
    return WorkerLog(celery_worker)


@pytest.mark.parametrize("row", E2E_ROWS.values(), ids=E2E_ROWS.keys())
def test_each_outcome_through_a_real_worker(row, worker, live_session, request_extension, settings_now):
    # given: the default action, an active session, the mitra's app as the row says
    timeout_seconds = ANSWER_TIMEOUT_SECONDS if row.answer else TIMEOUT_SECONDS
    settings_now(extension_default_action_on_timeout=row.default, extension_timeout_seconds=timeout_seconds)
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
            assert (await off_loop(lambda: live.mitra_client.post("/api/mitra/status/offline"))).status_code == 200
        extension = await off_loop(lambda: request_extension(live))
        deadline = (await off_loop(lambda: Extension.objects.get(id=extension["id"]).deadline_at)).timestamp()
        sockets = [s for s in (customer_socket, mitra_socket) if s]
        if mitra_socket:
            request_event, _ = await next_event(mitra_socket, "extension_request")
            assert request_event["extension_id"] == extension["id"]
            assert request_event["timeout_seconds"] == timeout_seconds
            assert request_event["default_action"] == row.default
        if row.mitra == "socket_closed":  # force-quit: the app is gone
            await mitra_socket.disconnect()
            sockets.remove(mitra_socket)

        # when: the mitra answers in the window, or nobody does and the worker's timer fires
        if row.answer:
            url = (approve_url if row.answer == "approve" else decline_url)(extension["id"])
            response = await off_loop(lambda: live.mitra_client.post(url))
            assert response.status_code == 200, response.json()
        resolved, resolved_at = await next_event(customer_socket, "extension_resolved")
        # the extension's own timer runs in the worker either way: it decides, or finds it decided
        fired = await worker.wait_for_task(EXTENSION_TASK)
        fired_at = time.time()
        rest = await received_by_all(sockets)
        after = await off_loop(extension_state)
        await close_sockets(sockets)
        return extension, deadline, resolved, resolved_at, fired, fired_at, rest, after

    extension, deadline, resolved, resolved_at, fired, fired_at, rest, after = asyncio.run(scenario())

    # then: the timer fired at the deadline, never before it; it decided iff nobody answered
    assert fired == (["False"] if row.answer else ["True"])
    assert deadline <= fired_at, "the timer fired before the deadline"
    if row.answer:
        assert resolved_at < deadline
    else:
        # never early; how late is measured by `make bench` (P5), not bounded here
        assert deadline <= resolved_at, f"resolved {resolved_at - deadline:+.2f} s from the deadline"
    # then: exactly one outcome with its money, audit and events
    actor_id = live.mitra.id if row.answer else None
    session = assert_resolved_once(extension["id"], status=row.status, tag=row.tag, ends_before=ends_before, actor_id=actor_id)
    assert session.status == "active"
    event = resolved_event(extension["id"], row.status, session)
    assert resolved == event
    if row.mitra == "connected":
        customer_rest, mitra_rest = rest
        assert mitra_rest == [event]
    else:
        (customer_rest,) = rest
    assert customer_rest == []
    assert PushOutbox.objects.count() == pushes_before  # no "session closing" push
    assert extension_state() == after


# --- the session's end through the worker -----------------------------------------------------
@pytest.fixture
def one_minute_tier(make_tier):
    return make_tier(kind=TierKind.EXTENSION, minutes=1, amount=10_000, name="1 menit")


def test_after_an_approval_the_worker_closes_the_session_at_the_new_ends_at(
    worker, live_session, request_extension, one_minute_tier, settings_now
):
    settings_now(closing_goodbye_seconds=1)
    live = live_session()

    async def scenario():
        sockets = [await open_socket(CLIENT_WS, live.customer_client), await open_socket(MITRA_WS, live.mitra_client)]
        await ping(sockets[1])
        extension = await off_loop(lambda: request_extension(live, tier=one_minute_tier))
        await next_event(sockets[1], "extension_request")
        # given: ends_at passed while the mitra has not answered; the session timer is held
        await off_loop(lambda: ChatSession.objects.filter(id=live.id).update(ends_at=timezone.now() - timedelta(seconds=56)))
        assert await off_loop(lambda: chat_timer_fire(chat_session_id=live.id)) is False
        # when: the mitra approves one more minute → the new ends_at is ~4 s from now
        response = await off_loop(lambda: live.mitra_client.post(approve_url(extension["id"])))
        assert response.status_code == 200
        new_ends_at = await off_loop(lambda: live.session.ends_at)
        resolved, _ = await next_event(sockets[0], "extension_resolved")
        # then: the worker begins the goodbye at the new ends_at, and completes the session after it
        closing, closing_at = await next_event(sockets[0], "session_closing")
        completed, completed_at = await next_event(sockets[0], "session_completed")
        mitra_events = [e["type"] for e in (await received_by_all(sockets))[1]]
        # the extension's own timer found it approved
        assert await worker.wait_for_task(EXTENSION_TASK) == ["False"]
        await close_sockets(sockets)
        return extension, new_ends_at, resolved, closing, closing_at, completed, completed_at, mitra_events

    extension, new_ends_at, resolved, closing, closing_at, completed, completed_at, mitra_events = asyncio.run(scenario())

    assert resolved["status"] == "approved" and resolved["ends_at"] == iso_datetime(new_ends_at)
    assert new_ends_at.timestamp() <= closing_at <= new_ends_at.timestamp() + 8
    assert closing["chat_session_id"] == live.id
    assert completed == {"type": "session_completed", "chat_session_id": live.id, "ended_by": "timer"}
    assert mitra_events == ["extension_resolved", "session_closing", "session_completed"]
    session = live.session
    assert (session.status, session.ended_by) == ("completed", "timer")
    assert session.closing_started_at >= new_ends_at
    assert PaymentSession.objects.get(id=extension["payment_session_id"]).status == "consumed"
    assert list(Transaction.objects.filter(payment_session_id=extension["payment_session_id"]).values_list("amount", flat=True)) == [10_000]


def test_after_a_safeguard_rejection_the_worker_closes_a_session_past_its_ends_at_right_away(
    worker, live_session, request_extension
):
    live = live_session()

    async def scenario():
        customer_socket = await open_socket(CLIENT_WS, live.customer_client)
        # given: the mitra went offline mid-session (no socket either), ends_at passes during the window
        assert (await off_loop(lambda: live.mitra_client.post("/api/mitra/status/offline"))).status_code == 200
        extension = await off_loop(lambda: request_extension(live))
        await off_loop(lambda: ChatSession.objects.filter(id=live.id).update(ends_at=timezone.now() - timedelta(seconds=1)))
        assert await off_loop(lambda: chat_timer_fire(chat_session_id=live.id)) is False
        deadline = (await off_loop(lambda: Extension.objects.get(id=extension["id"]).deadline_at)).timestamp()
        # when: the window ends with no answer
        resolved, resolved_at = await next_event(customer_socket, "extension_resolved")
        closing, closing_at = await next_event(customer_socket, "session_closing")
        assert await worker.wait_for_task(EXTENSION_TASK) == ["True"]
        await close_sockets([customer_socket])
        return extension, deadline, resolved, resolved_at, closing, closing_at

    extension, deadline, resolved, resolved_at, closing, closing_at = asyncio.run(scenario())

    assert resolved["status"] == "safeguard_rejected"
    assert deadline <= resolved_at <= closing_at
    assert closing["chat_session_id"] == live.id
    assert live.session.status == "closing"
    assert list(ExtensionAudit.objects.filter(extension_id=extension["id"]).values_list("tag", flat=True)) == [
        "extension_safeguard_tripped"
    ]
    assert PaymentSession.objects.get(id=extension["payment_session_id"]).status == "released"
    assert Transaction.objects.filter(payment_session_id=extension["payment_session_id"]).count() == 0
