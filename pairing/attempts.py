"""Attempts (SPEC §5.1, §5.2, §5.3, §7): a paid request waiting for a mitra, from its start
to its end without a match — the blast, the customer's cancel, the timeout, the last
decline, offers withdrawn by a block or a suspension.

Every attempt that ends without a match goes through ``attempt_fail``: it writes the
``pairing_failures`` row, closes the open offers and tells the customer. A returning
attempt its mitra could not take keeps its payment ``confirmed`` (usable for "Chat
dengan bestie lain"); any other attempt's payment becomes ``failed_pairing``
(operators refund or credit it).

Locks (``config/locks.py``): the customer's account row shared, the attempt's row,
then its payment.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.locks import account_in_use_lock
from accounts.models import MitraProfile, User
from config.errors import ConflictError, ErrorCode, NotFoundError
from failed_pairings.models import CauseTag, PairingFailure
from live_settings.selectors import config_get
from metrics.instruments import deadline_fired, pairing_attempt_ended
from pairing import selectors
from pairing.locks import chat_session_lock, chat_sessions_lock
from pairing.models import LIVE_STATUSES, ChatSession, ChatStatus, NotificationStatus, RequestType
from pairing.offers import close_offers, closed_event, offer, offer_close, offers_open_exist
from pairing.representations import targeted_unavailable_payload
from pairing.timers import timer_schedule
from payments.locks import payment_lock
from payments.models import PaymentSession, PaymentStatus
from payments.services import payment_transition
from realtime.delivery import Event, deliver
from realtime.push import PushMessage

PAIRING_FAILED_TITLE = "Sesi gagal"
PAIRING_FAILED_TEXT = "Maaf, kami tidak bisa menemukan bestie untuk sesimu. Tim kami akan menghubungimu segera."
TARGETED_UNAVAILABLE_TITLE = "Bestie sedang tidak online"
TARGETED_UNAVAILABLE_TEXT = "Kamu bisa chat dengan bestie lain tanpa bayar lagi, atau kembali."


# --- start ------------------------------------------------------------------------------------
def usable_payment(*, customer: User, payment_id) -> PaymentSession:
    """The customer's confirmed, unexpired session payment with no chat in progress,
    locked; else 409 ``payment_not_usable``."""
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


def attempt_create(*, customer: User, payment: PaymentSession, request_type: str, sensitive: bool, window_seconds: int, **fields) -> ChatSession:
    """A waiting attempt on ``payment`` (call holding its lock), due in ``window_seconds``;
    the payment points at it. Returned with the customer's profile loaded."""
    session = ChatSession.objects.create(
        customer=customer,
        payment_session=payment,
        request_type=request_type,
        sensitive=sensitive,
        duration_minutes=payment.duration_minutes,
        deadline_at=timezone.now() + timedelta(seconds=window_seconds),
        **fields,
    )
    PaymentSession.objects.filter(pk=payment.pk).update(chat_session=session)
    return session


def blast(*, customer: User, payment: PaymentSession, sensitive: bool, fallback_from: ChatSession | None = None) -> ChatSession:
    """Offer a general attempt to every available mitra. Call holding the customer's
    ``account_in_use_lock`` and the payment's lock."""
    session = attempt_create(
        customer=customer, payment=payment, request_type=RequestType.GENERAL, sensitive=sensitive,
        window_seconds=config_get("pairing_blast_timeout_seconds"), fallback_from=fallback_from,
    )
    mitra_ids = selectors.available_mitra_ids(customer_id=customer.id)
    if not mitra_ids:
        attempt_fail(session, cause=CauseTag.NO_MITRA_AVAILABLE, payment=payment)
        return session
    session = ChatSession.objects.select_related("customer__customer_profile").get(pk=session.pk)
    offer(session, mitra_ids, session.customer.customer_profile.call_name)
    timer_schedule(session.id, session.deadline_at)
    return session


@transaction.atomic
def chat_start(*, customer: User, payment_id, sensitive: bool) -> ChatSession:
    """Start a general blast on a confirmed payment. With nobody available it fails at once
    (the attempt comes back ``unmatched`` and the customer gets ``pairing_failed``)."""
    account_in_use_lock(customer.id)
    payment = usable_payment(customer=customer, payment_id=payment_id)
    return blast(customer=customer, payment=payment, sensitive=sensitive)


# --- the end without a match ----------------------------------------------------------------
def attempt_fail(
    session: ChatSession,
    *,
    cause: str,
    closed_reason: str | None = "unmatched",
    final_status: str = ChatStatus.UNMATCHED,
    notify_customer: bool = True,
    payment: PaymentSession | None = None,
) -> PairingFailure:
    """End a waiting attempt without a match. Call holding its row lock (and the
    payment's, when passing ``payment``), with the attempt still ``waiting``.

    ``closed_reason``: what the mitras with an open offer are told (None when the only
    offer was the mitra's own decline); ``final_status``: ``unmatched``, or
    ``cancelled`` when the customer cancelled (or a suspension ended a general attempt).
    A returning attempt that is not cancelled keeps its payment ``confirmed`` and the
    customer gets ``targeted_unavailable``; otherwise a confirmed payment becomes
    ``failed_pairing`` and the customer gets ``pairing_failed`` unless
    ``notify_customer`` is false."""
    # a returning attempt its mitra could not take leaves the payment for "Chat dengan
    # bestie lain"; one the customer cancelled is a failed pairing like any other
    mitra_side = session.request_type == RequestType.RETURNING and final_status != ChatStatus.CANCELLED
    session.status = final_status
    session.failure_cause = cause
    session.deadline_at = None
    session.save(update_fields=["status", "failure_cause", "deadline_at"])
    payment = payment or payment_lock(payment_id=session.payment_session_id)
    if not mitra_side and payment.status == PaymentStatus.CONFIRMED:
        payment_transition(payment, to_status=PaymentStatus.FAILED_PAIRING, reason=cause)
    failure = PairingFailure.objects.create(
        customer_id=session.customer_id,
        targeted_mitra_id=session.targeted_mitra_id,
        cause_tag=cause,
        amount=payment.amount,
        payment_session=payment,
        chat_session=session,
    )
    if closed_reason is not None:
        close_offers(session, reason=closed_reason)
    pairing_attempt_ended(
        request_type=session.request_type,
        outcome="cancelled" if final_status == ChatStatus.CANCELLED else "failed",
        cause=cause,
    )
    if mitra_side:
        _targeted_unavailable_tell(session, cause=cause)
    elif notify_customer:
        _pairing_failed_tell(session, cause=cause)
    return failure


def _pairing_failed_tell(session: ChatSession, *, cause: str) -> None:
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


def _targeted_unavailable_tell(session: ChatSession, *, cause: str) -> None:
    display_name = MitraProfile.objects.filter(user_id=session.targeted_mitra_id).values_list("display_name", flat=True).get()
    payload = targeted_unavailable_payload(session.id, cause=cause, mitra_id=session.targeted_mitra_id, display_name=display_name)
    deliver(
        events=[Event(session.customer_id, payload)],
        # the customer may have closed the app while waiting for "their" bestie
        pushes=[
            PushMessage(
                str(session.customer_id), TARGETED_UNAVAILABLE_TITLE, TARGETED_UNAVAILABLE_TEXT,
                {"type": "targeted_unavailable", "chat_session_id": str(session.id), "cause": cause},
            )
        ],
    )


@transaction.atomic
def chat_cancel(*, customer: User, chat_session_id) -> ChatSession:
    """Cancel mid-search. The canceller gets no ``pairing_failed`` and no "Sesi gagal" push."""
    session = chat_session_lock(chat_session_id, customer=customer)
    if session is None:
        raise NotFoundError("Chat session not found.")
    if session.status == ChatStatus.CANCELLED:
        return session
    if session.status in (ChatStatus.ACTIVE, ChatStatus.CLOSING, ChatStatus.COMPLETED):
        raise ConflictError(ErrorCode.ALREADY_MATCHED, "A bestie already accepted this chat.")
    if session.status != ChatStatus.WAITING:
        raise ConflictError(ErrorCode.ATTEMPT_ENDED, "This search has already ended.")
    attempt_fail(
        session, cause=CauseTag.CUSTOMER_CANCELLED, final_status=ChatStatus.CANCELLED, closed_reason="cancelled",
        notify_customer=False,
    )
    return session


def chat_deadline_fire(*, chat_session_id, now=None) -> bool:
    """Fire one attempt's pairing window if it is still waiting and due. Idempotent: a
    second call, or a call after an accept won, does nothing. Returns whether it fired."""
    now = now or timezone.now()
    with transaction.atomic():
        session = chat_session_lock(chat_session_id, status=ChatStatus.WAITING, deadline_at__lte=now)
        if session is None:
            return False
        deadline_fired(deadline="pairing", due_at=session.deadline_at, fired_at=now)
        if session.request_type == RequestType.RETURNING:
            # the server auto-rejects for the targeted mitra who did not answer
            attempt_fail(session, cause=CauseTag.TARGETED_MITRA_TIMEOUT, closed_reason="timeout")
        else:
            attempt_fail(session, cause=CauseTag.NO_MITRA_AVAILABLE, closed_reason="timeout")
        return True


def attempt_declined(session: ChatSession) -> None:
    """After a mitra's decline of ``session`` (held locked): a returning attempt fails at
    once (its only mitra said no); a general one when no offer is left open."""
    if session.request_type == RequestType.RETURNING:
        attempt_fail(session, cause=CauseTag.TARGETED_MITRA_REJECTED, closed_reason=None)
    elif not offers_open_exist(session):
        attempt_fail(session, cause=CauseTag.ALL_MITRAS_REJECTED)


# --- blocks and suspensions (SPEC §12) --------------------------------------------------------
def offers_withdraw(*, mitra_id, returning_cause: str, customer_id=None) -> int:
    """Withdraw ``mitra_id``'s open offers — of ``customer_id``'s attempts only, when
    given (a block), else all of them (a suspension, an erasure). Each mitra is told
    ``chat_request_closed`` (reason ``withdrawn``). A general attempt left with no open
    offer fails at once, as after everybody declined; a returning attempt to this mitra
    fails with ``returning_cause`` (its payment stays usable). Returns how many
    attempts were touched. Call inside a transaction, before locking any payment."""
    attempts = ChatSession.objects.filter(
        status=ChatStatus.WAITING, notifications__mitra_id=mitra_id, notifications__status=NotificationStatus.OFFERED
    )
    if customer_id is not None:
        attempts = attempts.filter(customer_id=customer_id)
    attempts = chat_sessions_lock(attempts)
    for session in attempts:
        if session.request_type == RequestType.RETURNING:
            attempt_fail(session, cause=returning_cause, closed_reason="withdrawn")
            continue
        offer_close(session, mitra_id)
        deliver(events=[Event(mitra_id, closed_event(session, "withdrawn"))])
        if not offers_open_exist(session):
            attempt_fail(session, cause=CauseTag.NO_MITRA_AVAILABLE, closed_reason="withdrawn")
    return len(attempts)


def customer_attempts_end(*, customer_id, cause: str) -> int:
    """End every waiting attempt of ``customer_id`` (a suspension): a general one as if
    cancelled, without telling the customer (its payment goes to operators as a failed
    pairing, ``cause``); a returning one unmatched. Call inside a transaction."""
    attempts = chat_sessions_lock(ChatSession.objects.filter(customer_id=customer_id, status=ChatStatus.WAITING))
    for session in attempts:
        if session.request_type == RequestType.RETURNING:
            attempt_fail(session, cause=cause, closed_reason="cancelled")
        else:
            attempt_fail(session, cause=cause, final_status=ChatStatus.CANCELLED, closed_reason="cancelled", notify_customer=False)
    return len(attempts)
