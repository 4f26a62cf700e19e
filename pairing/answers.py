"""The mitras' side of pairing (SPEC §5.1, §3): accepting or declining an offer, and
going online or offline (a mitra going online is offered every general attempt still
waiting — late joiners).

Races are decided by the database: a mitra's accepts serialize on their profile row
(capacity, ``pairing.selectors.mitra_has_room``), and the attempt itself is taken by a
conditional ``UPDATE … WHERE status = 'waiting'`` whose row count says who won. Locks
(``config/locks.py``): mitra profile → chat session → payment.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.locks import mitra_profile_lock
from accounts.models import MitraProfile, MitraStatus, User
from config.errors import ConflictError, ErrorCode, NotFoundError
from config.on_commit import after_commit
from live_settings.selectors import config_get
from metrics.instruments import pairing_matched
from pairing import selectors
from pairing.attempts import attempt_declined
from pairing.locks import chat_session_lock, chat_sessions_lock
from pairing.models import ChatRequestNotification, ChatSession, ChatStatus, NotificationStatus, RequestType
from pairing.offers import close_offers, offer, offer_close
from pairing.representations import chat_session_for_customer, chat_session_for_mitra
from pairing.timers import timer_schedule
from payments.locks import payment_lock
from payments.models import PaymentStatus
from payments.services import payment_transition
from realtime.delivery import Event, deliver
from realtime.push import PushMessage
from safety.selectors import blocked_customer_ids

MATCHED_TITLE = "Bestie ditemukan"


def _profile_lock(mitra: User) -> MitraProfile:
    profile = mitra_profile_lock(mitra.id)
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
    offered = (
        ChatRequestNotification.objects.select_related("chat_session")
        .filter(chat_session_id=chat_session_id, mitra=mitra)[:1]
    )
    offered = next(iter(offered), None)
    if offered is None:
        raise NotFoundError("Chat request not found.")
    if offered.status != NotificationStatus.OFFERED or offered.chat_session.status != ChatStatus.WAITING:
        raise ConflictError(ErrorCode.REQUEST_UNAVAILABLE, "This request is no longer available.")
    profile = _profile_lock(mitra)
    if profile.status != MitraStatus.ONLINE:
        raise ConflictError(ErrorCode.MITRA_OFFLINE, "Go online to accept requests.")
    attempt = offered.chat_session
    returning_customer = attempt.customer_id if attempt.request_type == RequestType.RETURNING else None
    if not selectors.mitra_has_room(mitra_id=mitra.id, customer_id=returning_customer):
        capacity = config_get("max_customers_per_mitra")
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
    taken = ChatRequestNotification.objects.filter(pk=offered.pk, status=NotificationStatus.OFFERED).update(
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
    timer_schedule(session.id, session.ends_at)
    after_commit(selectors.availability_refresh)
    return session


@transaction.atomic
def chat_request_decline(*, mitra: User, chat_session_id) -> None:
    """Decline an offer. When every offered mitra has declined, the attempt fails at once."""
    session = chat_session_lock(chat_session_id)
    offered = ChatRequestNotification.objects.filter(chat_session_id=chat_session_id, mitra=mitra).first()
    if session is None or offered is None:
        raise NotFoundError("Chat request not found.")
    if offered.status == NotificationStatus.DECLINED:
        return
    if offered.status != NotificationStatus.OFFERED or session.status != ChatStatus.WAITING or session.deadline_at <= timezone.now():
        raise ConflictError(ErrorCode.REQUEST_UNAVAILABLE, "This request is no longer available.")
    offer_close(session, mitra.id, status=NotificationStatus.DECLINED)
    attempt_declined(session)


@transaction.atomic
def mitra_status_set(*, mitra: User, status: str) -> MitraProfile:
    """Online/offline toggle. Going offline never touches running sessions; it only takes
    the mitra out of availability at once. Going online offers them every general
    attempt still waiting (late joiners)."""
    profile = _profile_lock(mitra)
    if profile.status != status:
        profile.status = status
        profile.status_changed_at = timezone.now()
        profile.save(update_fields=["status", "status_changed_at"])
    if status == MitraStatus.ONLINE:
        _offer_waiting_attempts(mitra)
    after_commit(selectors.availability_refresh)
    return profile


def _offer_waiting_attempts(mitra: User) -> None:
    if not selectors.mitra_has_room(mitra_id=mitra.id):
        return
    # locked (after the mitra's profile, as everywhere): a last decline, a cancel or a
    # timeout of these attempts waits for this offer, or this offer sees them ended
    waiting = chat_sessions_lock(
        ChatSession.objects.select_related("customer__customer_profile")
        .filter(status=ChatStatus.WAITING, request_type=RequestType.GENERAL, deadline_at__gt=timezone.now())
        .exclude(notifications__mitra=mitra)
    )
    if not waiting:
        return
    # read after the attempts are locked: a block that held them has committed by now
    # (safety.services.block_create locks a customer's waiting attempts first)
    blocked = blocked_customer_ids(mitra_id=mitra.id, customer_ids={s.customer_id for s in waiting})
    for session in sorted(waiting, key=lambda s: (s.created_at, s.id)):
        if session.customer_id in blocked:
            continue
        offer(session, [mitra.id], session.customer.customer_profile.call_name)
