"""Returning chat, "Curhat lagi" (SPEC §5.3): a paid request to one mitra the customer
has talked to before, and the fallback to a general blast on the same payment.

A returning attempt that does not become a session leaves the payment ``confirmed``
(no charge is lost: it stays usable for "Chat dengan bestie lain"), writes a
``pairing_failures`` row, and tells the customer ``targeted_unavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import MitraProfile, MitraStatus, Role, User
from config.errors import ConflictError, ErrorCode, NotFoundError
from failed_pairings.models import CauseTag, PairingFailure
from live_settings.selectors import config_get
from metrics.instruments import pairing_attempt_ended
from pairing import selectors, services
from pairing.models import OCCUPYING_STATUSES, ChatSession, ChatStatus, RequestType
from payments.models import PaymentSession
from realtime.delivery import Event, deliver
from realtime.push import PushMessage
from safety.selectors import customer_blocked_mitra

TARGETED_UNAVAILABLE_TITLE = "Bestie sedang tidak online"
TARGETED_UNAVAILABLE_TEXT = "Kamu bisa chat dengan bestie lain tanpa bayar lagi, atau kembali."


@dataclass(frozen=True)
class ReturningOutcome:
    """Either the waiting attempt, or the cause it could not be offered (409 to the customer)."""

    session: ChatSession | None = None
    unavailable_cause: str | None = None


def _mitra_brief(profile: MitraProfile) -> dict:
    return {"id": str(profile.user_id), "display_name": profile.display_name}


def targeted_unavailable_event(session_id, *, customer_id, cause: str, profile: MitraProfile) -> Event:
    return Event(
        customer_id,
        {"type": "targeted_unavailable", "chat_session_id": str(session_id) if session_id else None, "cause": cause, "mitra": _mitra_brief(profile)},
    )


def _has_capacity_for(profile: MitraProfile, customer: User) -> bool:
    """Below capacity, or at capacity only because of a session with this same customer."""
    occupying = list(
        ChatSession.objects.filter(mitra_id=profile.user_id, status__in=OCCUPYING_STATUSES).values_list("customer_id", flat=True)
    )
    if len(occupying) < config_get("max_customers_per_mitra"):
        return True
    return customer.id in occupying


@transaction.atomic
def chat_returning_start(*, customer: User, payment_id, mitra_id, sensitive: bool) -> ReturningOutcome:
    """Offer a paid returning chat to ``mitra_id`` only. When the mitra is offline or
    busy with other customers, the failure is recorded (and committed) and the caller
    answers 409 ``targeted_unavailable`` with its cause; the payment stays confirmed."""
    profile = MitraProfile.objects.select_for_update().filter(user_id=mitra_id, user__role=Role.MITRA).first()
    if profile is None:
        raise NotFoundError("Bestie not found.")
    payment = services.usable_payment(customer=customer, payment_id=payment_id)
    if payment.targeted_mitra_id is not None and payment.targeted_mitra_id != profile.user_id:
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, "This payment was made for another bestie.")
    had_session = ChatSession.objects.filter(
        customer=customer, mitra_id=profile.user_id, status__in=[ChatStatus.ACTIVE, ChatStatus.CLOSING, ChatStatus.COMPLETED]
    ).exists()
    if not had_session:
        raise ConflictError(ErrorCode.NO_HISTORY_WITH_MITRA, "You can only return to a bestie you have talked with.")
    selectors.customer_offers_lock(customer.id)  # a block being saved now is seen below
    if customer_blocked_mitra(customer_id=customer.id, mitra_id=profile.user_id):
        raise ConflictError(ErrorCode.MITRA_BLOCKED, "You blocked this bestie. Unblock them first to chat again.")

    cause = None
    if profile.status != MitraStatus.ONLINE:
        cause = CauseTag.TARGETED_MITRA_OFFLINE
    elif not _has_capacity_for(profile, customer):
        cause = CauseTag.TARGETED_MITRA_AT_CAPACITY
    if cause is not None:
        PairingFailure.objects.create(
            customer=customer, targeted_mitra_id=profile.user_id, cause_tag=cause, amount=payment.amount, payment_session=payment
        )
        return ReturningOutcome(unavailable_cause=cause)

    now = timezone.now()
    session = ChatSession.objects.create(
        customer=customer,
        targeted_mitra_id=profile.user_id,
        payment_session=payment,
        request_type=RequestType.RETURNING,
        sensitive=sensitive,
        duration_minutes=payment.duration_minutes,
        deadline_at=now + timedelta(seconds=config_get("returning_chat_confirmation_timeout_seconds")),
    )
    PaymentSession.objects.filter(pk=payment.pk).update(chat_session=session)
    session = ChatSession.objects.select_related("customer__customer_profile").get(pk=session.pk)
    services.offer(session, [profile.user_id], session.customer.customer_profile.call_name)
    services.schedule_deadline(session)
    return ReturningOutcome(session=session)


def returning_attempt_fail(session: ChatSession, *, cause: str, closed_reason: str | None) -> None:
    """End a waiting returning attempt without a match. Call holding its row lock.
    The payment stays ``confirmed``; the mitra's offer is closed (``closed_reason``
    tells them why, None when it was their own decline)."""
    session.status = ChatStatus.UNMATCHED
    session.failure_cause = cause
    session.deadline_at = None
    session.save(update_fields=["status", "failure_cause", "deadline_at"])
    payment = PaymentSession.objects.get(pk=session.payment_session_id)
    PairingFailure.objects.create(
        customer_id=session.customer_id, targeted_mitra_id=session.targeted_mitra_id, cause_tag=cause,
        amount=payment.amount, payment_session=payment, chat_session=session,
    )
    if closed_reason is not None:
        services.close_offers(session, reason=closed_reason)
    pairing_attempt_ended(request_type=session.request_type, outcome="failed", cause=cause)
    profile = MitraProfile.objects.get(user_id=session.targeted_mitra_id)
    deliver(
        events=[targeted_unavailable_event(session.id, customer_id=session.customer_id, cause=cause, profile=profile)],
        # the customer may have closed the app while waiting for "their" bestie
        pushes=[
            PushMessage(
                str(session.customer_id), TARGETED_UNAVAILABLE_TITLE, TARGETED_UNAVAILABLE_TEXT,
                {"type": "targeted_unavailable", "chat_session_id": str(session.id), "cause": cause},
            )
        ],
    )


@transaction.atomic
def chat_fallback_to_blast(*, customer: User, chat_session_id) -> ChatSession:
    """"Chat dengan bestie lain": a general blast on the payment of an unmatched returning
    attempt — no second charge, the original ``sensitive`` flag. Once per attempt."""
    original = ChatSession.objects.select_for_update().filter(id=chat_session_id, customer=customer).first()
    if original is None:
        raise NotFoundError("Chat session not found.")
    if original.request_type != RequestType.RETURNING or original.status != ChatStatus.UNMATCHED:
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, "Only an unanswered returning chat can fall back to other besties.")
    if ChatSession.objects.filter(fallback_from=original).exists():
        raise ConflictError(ErrorCode.ALREADY_FELL_BACK, "This chat already fell back to other besties.")
    payment = services.usable_payment(customer=customer, payment_id=original.payment_session_id)
    return services.blast(customer=customer, payment=payment, sensitive=original.sensitive, fallback_from=original)
