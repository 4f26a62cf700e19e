"""Pairing commands: start a blast, accept / decline, cancel, time out, mitra status.

Races are decided by the database: a mitra's accepts serialize on their profile row
(capacity), and the attempt itself is taken by a conditional ``UPDATE … WHERE
status = 'waiting'`` whose row count says who won. Lock order everywhere:
mitra profile → chat session → payment session.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import MitraProfile, MitraStatus, User
from config.errors import ConflictError, ErrorCode, NotFoundError
from config.on_commit import after_commit
from config.sql import json_param
from failed_pairings.models import CauseTag, PairingFailure
from live_settings.selectors import config_get
from metrics.instruments import deadline_fired, pairing_attempt_ended, pairing_matched
from pairing import lifecycle, selectors
from pairing.timers import registered_backstops
from pairing.models import (
    LIVE_STATUSES,
    ChatRequestNotification,
    ChatSession,
    ChatStatus,
    NotificationStatus,
    RequestType,
)
from pairing.representations import chat_request_for_mitra, chat_session_for_customer, chat_session_for_mitra
from payments.models import PaymentSession, PaymentStatus
from payments.services import payment_lock, payment_transition
from realtime.delivery import Event, deliver
from realtime.push import PushMessage
from safety.selectors import blocked_customer_ids

logger = logging.getLogger(__name__)

PAIRING_FAILED_TITLE = "Sesi gagal"
PAIRING_FAILED_TEXT = "Maaf, kami tidak bisa menemukan bestie untuk sesimu. Tim kami akan menghubungimu segera."
CHAT_REQUEST_TITLE = "Ada yang ingin curhat"
MATCHED_TITLE = "Bestie ditemukan"


# --- timers -------------------------------------------------------------------------------
def schedule_deadline(session: ChatSession) -> None:
    """After commit, enqueue the task that fires this attempt's deadline on time.
    The deadline itself is the ``deadline_at`` column; the beat backstop fires it
    if this task is lost."""
    from pairing.tasks import fire_chat_deadline

    session_id, eta = str(session.id), session.deadline_at
    after_commit(lambda: fire_chat_deadline.apply_async(args=[session_id], eta=eta))


# --- offers -----------------------------------------------------------------------------------
_OFFER_SQL = f"""
    INSERT INTO {ChatRequestNotification._meta.db_table} (chat_session_id, mitra_id)
    SELECT %s, m.id::uuid FROM jsonb_array_elements_text(%s::jsonb) AS m(id)
    ON CONFLICT (chat_session_id, mitra_id) DO NOTHING
"""


def offer(session: ChatSession, mitra_ids: list, call_name: str) -> None:
    """Offer a waiting attempt to ``mitra_ids``: rows in bulk, events and pushes after commit."""
    # one statement (the ids as one JSON parameter, config/sql.py), no model instance per
    # mitra: a blast to thousands is the hot path (make bench P2); status and created_at
    # are database defaults
    with connection.cursor() as cursor:
        cursor.execute(_OFFER_SQL, [session.id, json_param(list(mitra_ids))])
    payload = {"type": "chat_request", **chat_request_for_mitra(session)}
    push_data = {"type": "chat_request", "request_id": str(session.id), "request_type": session.request_type}
    deliver(
        events=[Event(mitra_id, payload) for mitra_id in mitra_ids],
        pushes=[
            PushMessage(str(mitra_id), CHAT_REQUEST_TITLE, f"{call_name} sedang menunggu bestie.", push_data)
            for mitra_id in mitra_ids
        ],
    )


def close_offers(session: ChatSession, *, reason: str, except_mitra_id=None) -> list:
    """Close every still-open offer of ``session``; tell those mitras why."""
    open_offers = ChatRequestNotification.objects.filter(chat_session=session, status=NotificationStatus.OFFERED)
    if except_mitra_id is not None:
        open_offers = open_offers.exclude(mitra_id=except_mitra_id)
    mitra_ids = list(open_offers.values_list("mitra_id", flat=True))
    if mitra_ids:
        ChatRequestNotification.objects.filter(chat_session=session, mitra_id__in=mitra_ids).update(
            status=NotificationStatus.CLOSED, responded_at=timezone.now()
        )
        deliver(
            events=[
                Event(mitra_id, {"type": "chat_request_closed", "request_id": str(session.id), "reason": reason})
                for mitra_id in mitra_ids
            ]
        )
    return mitra_ids


def _fail_attempt(
    session: ChatSession,
    payment: PaymentSession,
    *,
    cause: str,
    final_status: str = ChatStatus.UNMATCHED,
    closed_reason: str = "unmatched",
    notify_customer: bool = True,
) -> PairingFailure:
    """End a waiting general attempt without a match. Call holding the session and
    payment locks, with the session still ``waiting``."""
    session.status = final_status
    session.failure_cause = cause
    session.deadline_at = None
    session.save(update_fields=["status", "failure_cause", "deadline_at"])
    if payment.status == PaymentStatus.CONFIRMED:
        payment_transition(payment, to_status=PaymentStatus.FAILED_PAIRING, reason=cause)
    failure = PairingFailure.objects.create(
        customer_id=session.customer_id,
        targeted_mitra_id=session.targeted_mitra_id,
        cause_tag=cause,
        amount=payment.amount,
        payment_session=payment,
        chat_session=session,
    )
    close_offers(session, reason=closed_reason)
    pairing_attempt_ended(
        request_type=session.request_type,
        outcome="cancelled" if final_status == ChatStatus.CANCELLED else "failed",
        cause=cause,
    )
    if notify_customer:
        deliver(
            events=[
                Event(
                    session.customer_id,
                    {"type": "pairing_failed", "chat_session_id": str(session.id), "cause": cause, "message": PAIRING_FAILED_TEXT},
                )
            ],
            pushes=[
                PushMessage(
                    str(session.customer_id), PAIRING_FAILED_TITLE, PAIRING_FAILED_TEXT,
                    {"type": "pairing_failed", "chat_session_id": str(session.id), "cause": cause},
                )
            ],
        )
    return failure


def offers_withdraw(*, mitra_id, returning_cause: str, customer_id=None) -> int:
    """Withdraw ``mitra_id``'s open offers — of ``customer_id``'s attempts only, when
    given (a block), else all of them (a suspension). Each mitra is told
    ``chat_request_closed`` (reason ``withdrawn``). A general attempt left with no open
    offer fails at once, as after everybody declined; a returning attempt to this mitra
    fails with ``returning_cause`` (its payment stays usable). Returns how many
    attempts were touched. Call inside a transaction, before locking any payment."""
    attempts = ChatSession.objects.select_for_update().filter(
        status=ChatStatus.WAITING, notifications__mitra_id=mitra_id, notifications__status=NotificationStatus.OFFERED
    )
    if customer_id is not None:
        attempts = attempts.filter(customer_id=customer_id)
    attempts = list(attempts.order_by("created_at", "id"))
    for session in attempts:
        if session.request_type == RequestType.RETURNING:
            from pairing.returning import returning_attempt_fail

            returning_attempt_fail(session, cause=returning_cause, closed_reason="withdrawn")
            continue
        ChatRequestNotification.objects.filter(chat_session=session, mitra_id=mitra_id).update(
            status=NotificationStatus.CLOSED, responded_at=timezone.now()
        )
        deliver(events=[Event(mitra_id, {"type": "chat_request_closed", "request_id": str(session.id), "reason": "withdrawn"})])
        if not ChatRequestNotification.objects.filter(chat_session=session, status=NotificationStatus.OFFERED).exists():
            payment = payment_lock(payment_id=session.payment_session_id)
            _fail_attempt(session, payment, cause=CauseTag.NO_MITRA_AVAILABLE, closed_reason="withdrawn")
    return len(attempts)


def customer_attempts_end(*, customer_id, cause: str) -> int:
    """End every waiting attempt of ``customer_id`` (a suspension), without telling the
    customer: a general one as if cancelled (its payment goes to operators as a failed
    pairing, ``cause``), a returning one unmatched. Call inside a transaction."""
    attempts = list(
        ChatSession.objects.select_for_update()
        .filter(customer_id=customer_id, status=ChatStatus.WAITING)
        .order_by("created_at", "id")
    )
    for session in attempts:
        if session.request_type == RequestType.RETURNING:
            from pairing.returning import returning_attempt_fail

            returning_attempt_fail(session, cause=cause, closed_reason="cancelled")
            continue
        payment = payment_lock(payment_id=session.payment_session_id)
        _fail_attempt(
            session, payment, cause=cause, final_status=ChatStatus.CANCELLED, closed_reason="cancelled", notify_customer=False
        )
    return len(attempts)


# --- customer commands ------------------------------------------------------------------------------
def usable_payment(*, customer: User, payment_id) -> PaymentSession:
    payment = payment_lock(payment_id=payment_id, customer=customer)
    if payment.is_extension:
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, "An extension payment cannot start a chat.")
    if payment.status != PaymentStatus.CONFIRMED:
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, f"The payment is {payment.status}, not confirmed.")
    if payment.expires_at <= timezone.now():
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, "The payment session has expired.")
    if ChatSession.objects.filter(payment_session=payment, status__in=LIVE_STATUSES).exists():
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, "This payment already has a chat in progress.")
    return payment


def blast(*, customer: User, payment: PaymentSession, sensitive: bool, fallback_from: ChatSession | None = None) -> ChatSession:
    """Offer a general attempt to every available mitra. Call holding the payment lock."""
    now = timezone.now()
    session = ChatSession.objects.create(
        customer=customer,
        payment_session=payment,
        request_type=RequestType.GENERAL,
        sensitive=sensitive,
        fallback_from=fallback_from,
        duration_minutes=payment.duration_minutes,
        deadline_at=now + timedelta(seconds=config_get("pairing_blast_timeout_seconds")),
    )
    PaymentSession.objects.filter(pk=payment.pk).update(chat_session=session)
    selectors.customer_offers_lock(customer.id)
    mitra_ids = selectors.available_mitra_ids(customer_id=customer.id)
    if not mitra_ids:
        _fail_attempt(session, payment, cause=CauseTag.NO_MITRA_AVAILABLE)
        return session
    session = ChatSession.objects.select_related("customer__customer_profile").get(pk=session.pk)
    offer(session, mitra_ids, session.customer.customer_profile.call_name)
    schedule_deadline(session)
    return session


@transaction.atomic
def chat_start(*, customer: User, payment_id, sensitive: bool) -> ChatSession:
    """Start a general blast on a confirmed payment. With nobody available it fails at once
    (the attempt comes back ``unmatched`` and the customer gets ``pairing_failed``)."""
    payment = usable_payment(customer=customer, payment_id=payment_id)
    return blast(customer=customer, payment=payment, sensitive=sensitive)


@transaction.atomic
def chat_cancel(*, customer: User, chat_session_id) -> ChatSession:
    """Cancel mid-search. The canceller gets no ``pairing_failed`` and no "Sesi gagal" push."""
    session = ChatSession.objects.select_for_update().filter(id=chat_session_id, customer=customer).first()
    if session is None:
        raise NotFoundError("Chat session not found.")
    if session.status == ChatStatus.CANCELLED:
        return session
    if session.status in (ChatStatus.ACTIVE, ChatStatus.CLOSING, ChatStatus.COMPLETED):
        raise ConflictError(ErrorCode.ALREADY_MATCHED, "A bestie already accepted this chat.")
    if session.status != ChatStatus.WAITING:
        raise ConflictError(ErrorCode.ATTEMPT_ENDED, "This search has already ended.")
    payment = payment_lock(payment_id=session.payment_session_id)
    _fail_attempt(
        session, payment, cause=CauseTag.CUSTOMER_CANCELLED, final_status=ChatStatus.CANCELLED,
        closed_reason="cancelled", notify_customer=False,
    )
    return session


# --- mitra commands --------------------------------------------------------------------------------
def _lock_mitra(mitra: User) -> MitraProfile:
    profile = MitraProfile.objects.select_for_update().filter(user=mitra).first()
    if profile is None:
        raise NotFoundError("Mitra profile not found.")
    return profile


@transaction.atomic
def chat_request_accept(*, mitra: User, chat_session_id) -> ChatSession:
    """First accept wins. The mitra's profile row lock serializes their own accepts, so
    capacity holds even for simultaneous accepts of several requests; the conditional
    update on the attempt decides between mitras."""
    # the offer first, unlocked: offers and attempts only ever leave "offered"/"waiting",
    # so one seen gone is gone — the losers of a race that arrive after the winner
    # committed answer at once, without locking anything (make bench P3)
    offer = (
        ChatRequestNotification.objects.select_related("chat_session")
        .filter(chat_session_id=chat_session_id, mitra=mitra)[:1]
    )
    offer = next(iter(offer), None)
    if offer is None:
        raise NotFoundError("Chat request not found.")
    if offer.status != NotificationStatus.OFFERED or offer.chat_session.status != ChatStatus.WAITING:
        raise ConflictError(ErrorCode.REQUEST_UNAVAILABLE, "This request is no longer available.")
    profile = _lock_mitra(mitra)
    if profile.status != MitraStatus.ONLINE:
        raise ConflictError(ErrorCode.MITRA_OFFLINE, "Go online to accept requests.")
    attempt = offer.chat_session
    capacity = config_get("max_customers_per_mitra")
    occupying = selectors.mitra_occupying_customer_ids(mitra=mitra)
    # returning chat carve-out: at capacity only because of this same customer still fits
    carve_out = attempt.request_type == RequestType.RETURNING and attempt.customer_id in occupying
    if len(occupying) >= capacity and not carve_out:
        raise ConflictError(ErrorCode.AT_CAPACITY, f"You already have {capacity} active session(s).")

    now = timezone.now()
    won = ChatSession.objects.filter(id=attempt.id, status=ChatStatus.WAITING, deadline_at__gt=now).update(
        status=ChatStatus.ACTIVE,
        mitra=mitra,
        started_at=now,
        ends_at=now + timedelta(minutes=attempt.duration_minutes),
        deadline_at=None,
    )
    if won == 0:
        raise ConflictError(ErrorCode.REQUEST_UNAVAILABLE, "This request is no longer available.")

    payment = payment_lock(payment_id=attempt.payment_session_id)
    if payment.status != PaymentStatus.CONFIRMED:  # cannot happen while the attempt was waiting
        raise RuntimeError(f"payment {payment.id} is {payment.status} under a waiting attempt")
    # the offer may have been withdrawn (a block, a suspension) while the attempt stayed
    # waiting; whoever withdrew it held the attempt's row, which this update now holds
    taken = ChatRequestNotification.objects.filter(pk=offer.pk, status=NotificationStatus.OFFERED).update(
        status=NotificationStatus.ACCEPTED, responded_at=now
    )
    if taken == 0:
        raise ConflictError(ErrorCode.REQUEST_UNAVAILABLE, "This request is no longer available.")
    payment_transition(payment, to_status=PaymentStatus.CONSUMED, reason="chat_started", actor=mitra)
    close_offers(attempt, reason="accepted_elsewhere", except_mitra_id=mitra.id)
    pairing_matched(request_type=attempt.request_type, started_at=attempt.created_at, accepted_at=now)

    session = selectors.chat_session_get(chat_session_id=attempt.id)
    deliver(
        events=[
            Event(session.customer_id, {"type": "pairing_matched", "chat_session": chat_session_for_customer(session)}),
            Event(mitra.id, {"type": "session_started", "chat_session": chat_session_for_mitra(session)}),
        ],
        pushes=[
            PushMessage(
                str(session.customer_id), MATCHED_TITLE, f"{profile.display_name} siap mendengarkanmu.",
                {"type": "pairing_matched", "chat_session_id": str(session.id)},
            )
        ],
    )
    lifecycle.schedule_timer(session.id, session.ends_at)
    after_commit(selectors.availability_refresh)
    return session


@transaction.atomic
def chat_request_decline(*, mitra: User, chat_session_id) -> None:
    """Decline an offer. When every offered mitra has declined, the attempt fails at once."""
    session = ChatSession.objects.select_for_update().filter(id=chat_session_id).first()
    offer = ChatRequestNotification.objects.filter(chat_session_id=chat_session_id, mitra=mitra).first()
    if session is None or offer is None:
        raise NotFoundError("Chat request not found.")
    if offer.status == NotificationStatus.DECLINED:
        return
    if offer.status != NotificationStatus.OFFERED or session.status != ChatStatus.WAITING or session.deadline_at <= timezone.now():
        raise ConflictError(ErrorCode.REQUEST_UNAVAILABLE, "This request is no longer available.")
    ChatRequestNotification.objects.filter(pk=offer.pk).update(status=NotificationStatus.DECLINED, responded_at=timezone.now())
    if session.request_type == RequestType.RETURNING:
        from pairing.returning import returning_attempt_fail

        returning_attempt_fail(session, cause=CauseTag.TARGETED_MITRA_REJECTED, closed_reason=None)
        return
    still_open = ChatRequestNotification.objects.filter(chat_session=session, status=NotificationStatus.OFFERED).exists()
    if not still_open:
        payment = payment_lock(payment_id=session.payment_session_id)
        _fail_attempt(session, payment, cause=CauseTag.ALL_MITRAS_REJECTED)


@transaction.atomic
def mitra_status_set(*, mitra: User, status: str) -> MitraProfile:
    """Online/offline toggle. Going offline never touches running sessions; it only takes
    the mitra out of availability at once. Going online offers them every general
    attempt still waiting (late joiners)."""
    profile = _lock_mitra(mitra)
    if profile.status != status:
        profile.status = status
        profile.status_changed_at = timezone.now()
        profile.save(update_fields=["status", "status_changed_at"])
    if status == MitraStatus.ONLINE:
        _offer_waiting_attempts(mitra)
    after_commit(selectors.availability_refresh)
    return profile


def _offer_waiting_attempts(mitra: User) -> None:
    if selectors.mitra_active_session_count(mitra=mitra) >= config_get("max_customers_per_mitra"):
        return
    # locked (after the mitra's profile, as everywhere): a last decline, a cancel or a
    # timeout of these attempts waits for this offer, or this offer sees them ended
    waiting = list(
        ChatSession.objects.select_for_update(of=("self",))
        .select_related("customer__customer_profile")
        .filter(status=ChatStatus.WAITING, request_type=RequestType.GENERAL, deadline_at__gt=timezone.now())
        .exclude(notifications__mitra=mitra)
        .order_by("created_at", "id")
    )
    if not waiting:
        return
    # read after the attempts are locked: a block that held them has committed by now
    # (safety.services.block_create locks a customer's waiting attempts first)
    blocked = blocked_customer_ids(mitra_id=mitra.id, customer_ids={s.customer_id for s in waiting})
    for session in waiting:
        if session.customer_id in blocked:
            continue
        offer(session, [mitra.id], session.customer.customer_profile.call_name)


# --- deadlines --------------------------------------------------------------------------------
def chat_deadline_fire(*, chat_session_id, now=None) -> bool:
    """Fire one attempt's deadline if it is still waiting and due. Idempotent: a second
    call, or a call after an accept won, does nothing. Returns whether it fired."""
    now = now or timezone.now()
    with transaction.atomic():
        session = (
            ChatSession.objects.select_for_update()
            .filter(id=chat_session_id, status=ChatStatus.WAITING, deadline_at__lte=now)
            .first()
        )
        if session is None:
            return False
        deadline_fired(deadline="pairing", due_at=session.deadline_at, fired_at=now)
        if session.request_type == RequestType.RETURNING:
            from pairing.returning import returning_attempt_fail

            # the server auto-rejects for the targeted mitra who did not answer
            returning_attempt_fail(session, cause=CauseTag.TARGETED_MITRA_TIMEOUT, closed_reason="timeout")
            return True
        payment = payment_lock(payment_id=session.payment_session_id)
        _fail_attempt(session, payment, cause=CauseTag.NO_MITRA_AVAILABLE, closed_reason="timeout")
        return True


def chat_timer_fire(*, chat_session_id, now=None) -> bool:
    """Fire whichever deadline of this session is due: the pairing window while waiting,
    ``ends_at`` while active, ``closes_at`` while closing. Idempotent."""
    status = ChatSession.objects.filter(id=chat_session_id).values_list("status", flat=True).first()
    if status == ChatStatus.WAITING:
        return chat_deadline_fire(chat_session_id=chat_session_id, now=now)
    if status in (ChatStatus.ACTIVE, ChatStatus.CLOSING):
        return lifecycle.session_timer_fire(chat_session_id=chat_session_id, now=now)
    return False


def due_deadlines_fire(*, now=None, limit: int = 1000) -> int:
    """The backstop: fire every deadline already past (pairing windows, session ends,
    goodbye phases), one row per transaction, claimed with ``FOR UPDATE SKIP LOCKED`` so
    concurrent runs split the work instead of queueing behind each other."""
    due_filter = (
        Q(status=ChatStatus.WAITING, deadline_at__lte=now or timezone.now())
        | Q(status=ChatStatus.ACTIVE, ends_at__lte=now or timezone.now())
        | Q(status=ChatStatus.CLOSING, closes_at__lte=now or timezone.now())
    )
    # other apps' deadlines first: an extension's outcome decides when its session closes
    fired, held = sum(fire_due(now=now) for fire_due in registered_backstops()), []
    while fired < limit:
        with transaction.atomic():
            due = (
                ChatSession.objects.select_for_update(skip_locked=True)
                .filter(due_filter)
                .exclude(id__in=held)
                .values_list("id", flat=True)
                .first()
            )
            if due is None:
                break
            if chat_timer_fire(chat_session_id=due, now=now):
                fired += 1
            else:
                held.append(due)  # e.g. waiting for an extension's answer
    if fired:
        logger.warning("backstop fired %d overdue deadline(s)", fired)
    return fired
