"""Exactly one outcome whatever the race (SPEC §6), raced for real: every racer runs on
its own thread with its own database connection, released together by a barrier
(``pairing.tests.live.race``). Each round is a fresh extension on the same active
session whose window is already over, so the timer's handler really competes."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from accounts.models import MitraStatus
from config.errors import ConflictError
from extensions import services as extension_services
from extensions.models import Extension, ExtensionAudit
from extensions.tests.state import EXTENSION_AMOUNT, approve_url, deadline_passed, decline_url, ends_at_passed, extensions_url
from pairing import answers, deadlines
from pairing.models import ChatSession
from pairing.tests.live import race
from payments import services as payment_services
from payments.models import PaymentSession, Transaction
from realtime.models import PushOutbox
from realtime.presence import presence_beat, presence_leave

pytestmark = pytest.mark.django_db(transaction=True)

APPROVED = {"approved", "auto_approved"}
TIMER_TAGS = {"auto_approved": "extension_auto_approved", "rejected": "extension_rejected", "safeguard_rejected": "extension_safeguard_tripped"}

# what the timer decides, per round: (default action, mitra online, mitra connected) → outcome
MITRA_STATES = [
    ("auto_approve", True, True, "auto_approved"),
    ("auto_reject", True, True, "rejected"),
    ("auto_approve", False, True, "safeguard_rejected"),
    ("auto_approve", True, False, "safeguard_rejected"),
]


@pytest.fixture
def mitra_state(settings_now):
    """``mitra_state(live, default, online, connected)``: the timer's inputs, as the
    service sees them (presence through ``presence_beat``/``presence_leave``)."""

    def apply(live, default: str, online: bool, connected: bool) -> None:
        settings_now(extension_default_action_on_timeout=default)
        answers.mitra_status_set(mitra=live.mitra, status=MitraStatus.ONLINE if online else MitraStatus.OFFLINE)
        if connected:
            presence_beat(live.mitra.id, "test-channel")
        else:
            presence_leave(live.mitra.id, "test-channel")

    return apply


@pytest.fixture
def due_extension(extension_tier):
    """``due_extension(live)`` → a pending extension (services, as the API does) whose
    window is already over."""

    def make(live) -> Extension:
        payment = payment_services.payment_session_create(
            customer=live.customer, tier_id=extension_tier.id, is_extension=True, chat_session_id=live.id
        )
        payment_services.payment_session_confirm(customer=live.customer, payment_id=payment.id)
        extension = extension_services.extension_request(customer=live.customer, chat_session_id=live.id, payment_id=payment.id)
        deadline_passed(extension.id)
        return extension

    return make


def _code(result) -> str | None:
    """The refusal code of a racer's result (an API response or a service's exception)."""
    if isinstance(result, ConflictError):
        return result.code
    if hasattr(result, "status_code") and result.status_code == 409:
        return result.json()["code"]
    return None


def _won(result) -> bool:
    if isinstance(result, BaseException):
        return False
    if hasattr(result, "status_code"):
        return result.status_code == 200
    return result is True or isinstance(result, Extension)


def assert_one_outcome(extension: Extension, *, ends_before, session_status: str = "active") -> str:
    """Per extension: one final status, one audit, a charge iff approved (and at most one),
    ``ends_at`` moved exactly once by the minutes iff approved."""
    extension.refresh_from_db()
    session = ChatSession.objects.get(id=extension.chat_session_id)
    payment = PaymentSession.objects.get(id=extension.payment_session_id)
    audits = list(ExtensionAudit.objects.filter(extension=extension).values_list("tag", flat=True))
    charges = list(Transaction.objects.filter(payment_session=payment).values_list("kind", "amount"))
    assert extension.status != "pending" and extension.resolved_at is not None
    assert len(audits) == 1, audits
    if extension.status in APPROVED:
        assert charges == [("charge", EXTENSION_AMOUNT)]
        assert payment.status == "consumed"
        assert session.ends_at == ends_before + timedelta(minutes=extension.minutes)
    else:
        assert charges == []
        assert payment.status == "released"
        assert session.ends_at == ends_before
    assert session.status == session_status
    return audits[0]


# --- approve against the timer ------------------------------------------------------------
ROUNDS = 52


def test_approve_and_the_timer_at_the_same_instant_record_exactly_one_outcome(live_session, due_extension, mitra_state):
    live = live_session()
    outcomes: Counter = Counter()

    for round_no in range(ROUNDS):
        # given: the mitra's state for the timer rotates; a due extension
        default, online, connected, timer_outcome = MITRA_STATES[round_no * len(MITRA_STATES) // ROUNDS]
        mitra_state(live, default, online, connected)
        extension = due_extension(live)
        ends_before = live.session.ends_at
        by_api = round_no % 2 == 0
        if by_api:
            approve = lambda: live.mitra_client.post(approve_url(extension.id))  # noqa: E731
        else:
            approve = lambda: extension_services.extension_approve(mitra=live.mitra, extension_id=extension.id)  # noqa: E731

        # when: the mitra's approval and the timeout handler at once
        approved, fired = race([approve, lambda: extension_services.extension_deadline_fire(extension_id=extension.id)])

        # then: exactly one of them won, the loser changed nothing and was told why
        assert not isinstance(fired, BaseException), fired
        assert _won(approved) != (fired is True), (round_no, approved, fired)
        tag = assert_one_outcome(extension, ends_before=ends_before)
        if _won(approved):
            assert (extension.status, tag) == ("approved", "extension_approved")
            if by_api:
                assert approved.json()["status"] == "approved"
        else:
            assert (extension.status, tag) == (timer_outcome, TIMER_TAGS[timer_outcome])
            assert _code(approved) == "extension_resolved", approved
        outcomes[(extension.status, "api" if by_api else "service")] += 1

    assert sum(outcomes.values()) == ROUNDS
    assert Extension.objects.filter(chat_session_id=live.id).count() == ROUNDS
    assert ExtensionAudit.objects.count() == ROUNDS
    # the first session payment plus one per approved extension
    approved_count = Extension.objects.filter(status__in=APPROVED).count()
    assert Transaction.objects.count() == 1 + approved_count
    print("approve vs timer outcomes:", dict(outcomes))


def test_approve_and_the_backstop_at_the_same_instant_record_exactly_one_outcome(live_session, due_extension, mitra_state):
    live = live_session()
    mitra_state(live, "auto_reject", True, True)

    for round_no in range(10):
        extension = due_extension(live)
        ends_before = live.session.ends_at

        approved, fired = race(
            [lambda: live.mitra_client.post(approve_url(extension.id)), lambda: deadlines.due_deadlines_fire()]
        )

        assert not isinstance(fired, BaseException), fired
        assert _won(approved) != (fired == 1), (round_no, approved, fired)
        tag = assert_one_outcome(extension, ends_before=ends_before)
        assert tag == ("extension_approved" if _won(approved) else "extension_rejected")


# --- two answers at once ------------------------------------------------------------------
def test_two_approvals_at_once_approve_and_charge_once(live_session, due_extension, mitra_state):
    live = live_session()
    mitra_state(live, "auto_approve", True, True)

    for round_no in range(10):
        extension = due_extension(live)
        Extension.objects.filter(id=extension.id).update(deadline_at=extension.created_at + timedelta(seconds=60))
        ends_before = live.session.ends_at

        # when: a double tap (API) or two devices (API and service)
        second = (
            (lambda: live.mitra_client.post(approve_url(extension.id)))
            if round_no % 2
            else (lambda: extension_services.extension_approve(mitra=live.mitra, extension_id=extension.id))
        )
        results = race([lambda: live.mitra_client.post(approve_url(extension.id)), second])

        assert [_won(r) for r in results].count(True) == 1, results
        assert [_code(r) for r in results if not _won(r)] == ["extension_resolved"]
        assert assert_one_outcome(extension, ends_before=ends_before) == "extension_approved"


def test_approve_and_decline_at_once_record_exactly_one_answer(live_session, due_extension, mitra_state):
    live = live_session()
    mitra_state(live, "auto_approve", True, True)
    winners: Counter = Counter()

    for round_no in range(12):
        extension = due_extension(live)
        Extension.objects.filter(id=extension.id).update(deadline_at=extension.created_at + timedelta(seconds=60))
        ends_before = live.session.ends_at

        approved, declined = race(
            [lambda: live.mitra_client.post(approve_url(extension.id)), lambda: live.mitra_client.post(decline_url(extension.id))]
        )

        assert sorted([approved.status_code, declined.status_code]) == [200, 409], (approved, declined)
        loser = declined if approved.status_code == 200 else approved
        assert loser.json()["code"] == "extension_resolved"
        tag = assert_one_outcome(extension, ends_before=ends_before)
        assert tag == ("extension_approved" if approved.status_code == 200 else "extension_rejected")
        winners[tag] += 1

    print("approve vs decline:", dict(winners))


# --- the timer twice at once ----------------------------------------------------------------
@pytest.mark.parametrize("state", MITRA_STATES[:3], ids=["auto_approve", "auto_reject", "safeguard"])
def test_the_timer_firing_twice_at_once_records_one_outcome(state, live_session, due_extension, mitra_state):
    default, online, connected, outcome = state
    live = live_session()
    mitra_state(live, default, online, connected)

    for round_no in range(6):
        extension = due_extension(live)
        ends_before = live.session.ends_at
        # a duplicated task delivery, or the task and the beat backstop at once
        other = (
            (lambda: extension_services.extension_deadline_fire(extension_id=extension.id))
            if round_no % 2
            else (lambda: deadlines.due_deadlines_fire())
        )

        results = race([lambda: extension_services.extension_deadline_fire(extension_id=extension.id), other])

        assert not [r for r in results if isinstance(r, BaseException)], results
        assert sorted(int(r) for r in results) == [0, 1], results
        assert assert_one_outcome(extension, ends_before=ends_before) == TIMER_TAGS[outcome]
        assert Extension.objects.get(id=extension.id).status == outcome


# --- the session's end against the outcome ------------------------------------------------
def test_the_session_timer_racing_an_approval_never_closes_the_session(live_session, due_extension, mitra_state):
    """ends_at already passed while the extension waited: whichever runs first, an
    approval that won leaves the session active and nobody gets "session closing"."""
    live = live_session()
    mitra_state(live, "auto_approve", True, True)

    for round_no in range(12):
        extension = due_extension(live)
        ends_at_passed(live.id, seconds=2)
        ends_before = live.session.ends_at
        answer = (
            (lambda: live.mitra_client.post(approve_url(extension.id)))
            if round_no % 2
            else (lambda: extension_services.extension_deadline_fire(extension_id=extension.id))
        )

        resolved, closed = race([answer, lambda: deadlines.chat_timer_fire(chat_session_id=live.id)])

        assert _won(resolved), resolved
        assert closed is False
        assert assert_one_outcome(extension, ends_before=ends_before) in ("extension_approved", "extension_auto_approved")
        assert not PushOutbox.objects.filter(data__type="session_closing").exists()


def test_the_session_timer_racing_a_rejection_closes_the_session_once(live_session, due_extension, mitra_state):
    live = live_session()
    mitra_state(live, "auto_approve", False, False)  # the safeguard rejects
    extension = due_extension(live)
    ends_at_passed(live.id, seconds=2)
    ends_before = live.session.ends_at

    rejected, closed = race(
        [lambda: extension_services.extension_deadline_fire(extension_id=extension.id), lambda: deadlines.chat_timer_fire(chat_session_id=live.id)]
    )
    # the session timer either ran while the end was held (False) or after the rejection (True)
    closed_later = deadlines.due_deadlines_fire()

    assert rejected is True
    assert (closed, closed_later) in ((True, 0), (False, 1))
    assert assert_one_outcome(extension, ends_before=ends_before, session_status="closing") == "extension_safeguard_tripped"
    assert Extension.objects.get(id=extension.id).status == "safeguard_rejected"
    assert PushOutbox.objects.filter(data__type="session_closing").count() == 2


# --- two requests at once -------------------------------------------------------------------
def test_two_extension_requests_at_once_leave_exactly_one_pending(live_session, extension_payment):
    live = live_session()

    for round_no in range(8):
        payments = [extension_payment(live.customer_client, live.id) for _ in range(2)]
        results = race(
            [
                lambda p=p: live.customer_client.post(extensions_url(live.id), {"payment_session_id": p["id"]}, format="json")
                for p in payments
            ]
        )

        assert sorted(r.status_code for r in results) == [201, 409], [r.json() for r in results]
        assert [r.json()["code"] for r in results if r.status_code == 409] == ["extension_pending"]
        pending = Extension.objects.get(chat_session_id=live.id, status="pending")
        assert str(pending.id) == next(r.json()["id"] for r in results if r.status_code == 201)
        loser_payment = next(p for p, r in zip(payments, results) if r.status_code == 409)
        assert PaymentSession.objects.get(id=loser_payment["id"]).status == "confirmed"
        # the next round starts clean
        assert live.mitra_client.post(decline_url(pending.id)).status_code == 200
