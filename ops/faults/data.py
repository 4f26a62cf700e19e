"""The fault suite's reads and writes of the database, run in its one Django thread
(Django's ORM is synchronous and thread-bound). The app itself is driven over HTTP;
only starting points (price tiers) and the checks afterwards come from here, plus the
beat scenario's "lost tasks" (deadlines moved into the past behind the workers' back).

Every check reads the whole database: the suite's database is made anew for each run
and holds nothing but what the run did.
"""

from __future__ import annotations

from datetime import timedelta

SESSION_AMOUNT = 10_000
EXTENSION_AMOUNT = 5_000


def catalog() -> dict[str, str]:
    """The price tiers the scenarios buy: a one-minute session (its timers fire during the
    run), a long session, an extension. Returns name → tier id."""
    from payments.models import PricingTier, TierKind

    wanted = {
        "short": ("Faults 1 menit", SESSION_AMOUNT, 1, TierKind.SESSION),
        "long": ("Faults 60 menit", SESSION_AMOUNT, 60, TierKind.SESSION),
        "extension": ("Faults tambah 5 menit", EXTENSION_AMOUNT, 5, TierKind.EXTENSION),
    }
    ids = {}
    for key, (name, amount, minutes, kind) in wanted.items():
        tier, _ = PricingTier.objects.get_or_create(
            kind=kind, name=name, defaults={"amount": amount, "duration_minutes": minutes, "order": 99}
        )
        ids[key] = str(tier.id)
    return ids


# --- what is pending, what fired ------------------------------------------------------------------
def pending_timers() -> dict[str, int]:
    """Deadlines still ahead, by kind."""
    from django.utils import timezone

    from extensions.models import Extension, ExtensionStatus
    from pairing.models import ChatSession, ChatStatus

    now = timezone.now()
    return {
        "blast": ChatSession.objects.filter(status=ChatStatus.WAITING, deadline_at__gt=now).count(),
        "extension": Extension.objects.filter(status=ExtensionStatus.PENDING, deadline_at__gt=now).count(),
        "session": ChatSession.objects.filter(status=ChatStatus.ACTIVE, ends_at__gt=now).count()
        + ChatSession.objects.filter(status=ChatStatus.CLOSING, closes_at__gt=now).count(),
    }


def overdue_timers(grace_seconds: float) -> dict[str, int]:
    """Deadlines more than ``grace_seconds`` in the past that have not fired: lost timers."""
    from django.utils import timezone

    from extensions.models import Extension, ExtensionStatus
    from pairing.models import ChatSession, ChatStatus

    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    return {
        "blast": ChatSession.objects.filter(status=ChatStatus.WAITING, deadline_at__lt=cutoff).count(),
        "extension": Extension.objects.filter(status=ExtensionStatus.PENDING, deadline_at__lt=cutoff).count(),
        "session": ChatSession.objects.filter(status=ChatStatus.ACTIVE, ends_at__lt=cutoff).count()
        + ChatSession.objects.filter(status=ChatStatus.CLOSING, closes_at__lt=cutoff).count(),
    }


def blast_outcomes(session_ids: list[str]) -> dict[str, dict]:
    """Per attempt: its status, its deadline (None once fired) and its failure rows."""
    from failed_pairings.models import PairingFailure
    from pairing.models import ChatSession

    rows: dict[str, dict] = {
        str(sid): {"status": status, "failures": []}
        for sid, status in ChatSession.objects.filter(id__in=session_ids).values_list("id", "status")
    }
    for sid, tag, created in PairingFailure.objects.filter(chat_session_id__in=session_ids).values_list(
        "chat_session_id", "cause_tag", "created_at"
    ):
        rows[str(sid)]["failures"].append((tag, created))
    return rows


def session_outcomes(session_ids: list[str]) -> dict[str, dict]:
    from pairing.models import ChatSession

    fields = ("id", "status", "ends_at", "closing_started_at", "closes_at", "ended_at", "ended_by")
    return {str(row[0]): dict(zip(fields, row)) for row in ChatSession.objects.filter(id__in=session_ids).values_list(*fields)}


def extension_outcomes(extension_ids: list[str]) -> dict[str, dict]:
    from extensions.models import Extension, ExtensionAudit

    audits: dict[str, int] = {}
    for extension_id in ExtensionAudit.objects.filter(extension_id__in=extension_ids).values_list("extension_id", flat=True):
        audits[str(extension_id)] = audits.get(str(extension_id), 0) + 1
    return {
        str(eid): {"status": status, "deadline_at": deadline, "resolved_at": resolved, "audits": audits.get(str(eid), 0)}
        for eid, status, deadline, resolved in Extension.objects.filter(id__in=extension_ids).values_list(
            "id", "status", "deadline_at", "resolved_at"
        )
    }


def stored_messages(session_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Per session, ``(client_message_id, message id)`` of every stored message."""
    from chat.models import Message

    out: dict[str, list[tuple[str, str]]] = {sid: [] for sid in session_ids}
    for sid, client_id, mid in Message.objects.filter(chat_session_id__in=session_ids).values_list(
        "chat_session_id", "client_message_id", "id"
    ):
        out[str(sid)].append((client_id, str(mid)))
    return out


def money_anomalies() -> list[str]:
    """SPEC §4/§6's money invariant over everything the run did, as the test suite checks it
    (``payments/tests/test_money_invariant.py``, ``extensions/tests/test_money_invariant.py``),
    in its form for a service that is still running (sessions and payments may be live).
    Returns what it found wrong; empty when the invariant holds."""
    from extensions.tests.test_money_invariant import assert_extension_money_invariant
    from payments.tests.test_money_invariant import assert_money_invariant

    found = []
    for check in (assert_money_invariant, assert_extension_money_invariant):
        try:
            check(settled=False)
        except AssertionError as exc:
            found.append(f"{check.__name__}: {str(exc)[:300]}")
    return found


# --- the beat scenario: deadlines whose tasks were lost ---------------------------------------------
def move_deadlines_into_past(*, blast_ids: list[str], extension_ids: list[str], session_ids: list[str], seconds: float) -> int:
    """As if the tasks of these deadlines had been lost: each deadline moved ``seconds``
    into the past (a session's start with it, so its length stays as paid). Their tasks,
    enqueued for the old times, fire later and find nothing to do. Only beat's backstop
    can fire them now."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from extensions.models import Extension, ExtensionStatus
    from pairing.locks import chat_sessions_lock
    from pairing.models import ChatSession, ChatStatus

    past = timezone.now() - timedelta(seconds=seconds)
    with transaction.atomic():
        moved = ChatSession.objects.filter(id__in=blast_ids, status=ChatStatus.WAITING).update(deadline_at=past)
        moved += Extension.objects.filter(id__in=extension_ids, status=ExtensionStatus.PENDING).update(deadline_at=past)
        for session in chat_sessions_lock(ChatSession.objects.filter(id__in=session_ids, status=ChatStatus.ACTIVE)):
            shift = session.ends_at - past
            ChatSession.objects.filter(id=session.id).update(started_at=F("started_at") - shift, ends_at=past)
            moved += 1
    return moved


def expire_payments_now(payment_ids: list[str]) -> int:
    """As if these payments' lives had run out while beat was down."""
    from django.utils import timezone

    from payments.models import PaymentSession

    return PaymentSession.objects.filter(id__in=payment_ids).update(expires_at=timezone.now() - timedelta(seconds=1))


def payment_statuses(payment_ids: list[str]) -> dict[str, str]:
    from payments.models import PaymentSession

    return {str(i): status for i, status in PaymentSession.objects.filter(id__in=payment_ids).values_list("id", "status")}


def deadlines_of(*, blast_ids=(), extension_ids=(), session_ids=()) -> dict[str, object]:
    """The current deadline of each (attempt: ``deadline_at``; extension: ``deadline_at``;
    session: ``ends_at``)."""
    from extensions.models import Extension
    from pairing.models import ChatSession

    out = {str(i): d for i, d in ChatSession.objects.filter(id__in=blast_ids).values_list("id", "deadline_at")}
    out.update({str(i): d for i, d in Extension.objects.filter(id__in=extension_ids).values_list("id", "deadline_at")})
    out.update({str(i): d for i, d in ChatSession.objects.filter(id__in=session_ids).values_list("id", "ends_at")})
    return out


def close_connections() -> None:
    """Drop this thread's database connection (after the database was restarted)."""
    from django.db import connections

    connections.close_all()
