"""Returning chat, "Curhat lagi" (SPEC §5.3): a paid request to one mitra the customer
has talked to before, and the fallback to a general blast on the same payment.

A returning attempt that does not become a session leaves the payment ``confirmed``
(no charge is lost: it stays usable for "Chat dengan bestie lain"), writes a
``pairing_failures`` row, and tells the customer ``targeted_unavailable``
(``pairing.attempts.attempt_fail``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from accounts.locks import account_in_use_lock, mitra_profile_lock
from accounts.models import MitraStatus, Role, User
from config.errors import ConflictError, ErrorCode, NotFoundError
from failed_pairings.models import CauseTag, PairingFailure
from live_settings.selectors import config_get
from pairing import selectors
from pairing.attempts import attempt_create, blast, usable_payment
from pairing.locks import chat_session_lock
from pairing.models import ChatSession, ChatStatus, RequestType
from pairing.offers import offer
from pairing.timers import timer_schedule
from safety.selectors import customer_blocked_mitra


@dataclass(frozen=True)
class ReturningOutcome:
    """Either the waiting attempt, or the cause it could not be offered (409 to the customer)."""

    session: ChatSession | None = None
    unavailable_cause: str | None = None


@transaction.atomic
def chat_returning_start(*, customer: User, payment_id, mitra_id, sensitive: bool) -> ReturningOutcome:
    """Offer a paid returning chat to ``mitra_id`` only. When the mitra is offline or
    busy with other customers, the failure is recorded (and committed) and the caller
    answers 409 ``targeted_unavailable`` with its cause; the payment stays confirmed."""
    account_in_use_lock(customer.id)  # a block being saved now is seen below
    profile = mitra_profile_lock(mitra_id, user__role=Role.MITRA)
    if profile is None:
        raise NotFoundError("Bestie not found.")
    payment = usable_payment(customer=customer, payment_id=payment_id)
    if payment.targeted_mitra_id is not None and payment.targeted_mitra_id != profile.user_id:
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, "This payment was made for another bestie.")
    had_session = ChatSession.objects.filter(
        customer=customer, mitra_id=profile.user_id, status__in=[ChatStatus.ACTIVE, ChatStatus.CLOSING, ChatStatus.COMPLETED]
    ).exists()
    if not had_session:
        raise ConflictError(ErrorCode.NO_HISTORY_WITH_MITRA, "You can only return to a bestie you have talked with.")
    if customer_blocked_mitra(customer_id=customer.id, mitra_id=profile.user_id):
        raise ConflictError(ErrorCode.MITRA_BLOCKED, "You blocked this bestie. Unblock them first to chat again.")

    cause = None
    if profile.status != MitraStatus.ONLINE:
        cause = CauseTag.TARGETED_MITRA_OFFLINE
    elif not selectors.mitra_has_room(mitra_id=profile.user_id, customer_id=customer.id):
        cause = CauseTag.TARGETED_MITRA_AT_CAPACITY
    if cause is not None:
        PairingFailure.objects.create(
            customer=customer, targeted_mitra_id=profile.user_id, cause_tag=cause, amount=payment.amount, payment_session=payment
        )
        return ReturningOutcome(unavailable_cause=cause)

    session = attempt_create(
        customer=customer, payment=payment, request_type=RequestType.RETURNING, sensitive=sensitive,
        window_seconds=config_get("returning_chat_confirmation_timeout_seconds"), targeted_mitra_id=profile.user_id,
    )
    session = ChatSession.objects.select_related("customer__customer_profile").get(pk=session.pk)
    offer(session, [profile.user_id], session.customer.customer_profile.call_name)
    timer_schedule(session.id, session.deadline_at)
    return ReturningOutcome(session=session)


@transaction.atomic
def chat_fallback_to_blast(*, customer: User, chat_session_id) -> ChatSession:
    """"Chat dengan bestie lain": a general blast on the payment of an unmatched returning
    attempt — no second charge, the original ``sensitive`` flag. Once per attempt."""
    account_in_use_lock(customer.id)
    original = chat_session_lock(chat_session_id, customer=customer)
    if original is None:
        raise NotFoundError("Chat session not found.")
    if original.request_type != RequestType.RETURNING or original.status != ChatStatus.UNMATCHED:
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, "Only an unanswered returning chat can fall back to other besties.")
    if ChatSession.objects.filter(fallback_from=original).exists():
        raise ConflictError(ErrorCode.ALREADY_FELL_BACK, "This chat already fell back to other besties.")
    payment = usable_payment(customer=customer, payment_id=original.payment_session_id)
    return blast(customer=customer, payment=payment, sensitive=original.sensitive, fallback_from=original)

