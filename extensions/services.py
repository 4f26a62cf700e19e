"""Extensions (SPEC §6): the request, the mitra's answer, the timeout, and exactly one
outcome whatever races.

Every path that resolves an extension locks the chat session row, then flips the
extension with a conditional ``UPDATE … WHERE status = 'pending'``; the row count
says who won, and the loser changes nothing (the API answers 409
``extension_resolved``, a timer simply returns). Lock order: chat session →
extension → payment.

Charging: an extension payment is charged only at approval (manual or automatic);
a rejected extension releases its payment with no transaction.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import MitraProfile, MitraStatus, User
from config.errors import ConflictError, ErrorCode, NotFoundError
from config.on_commit import task_after_commit
from extensions.models import APPROVED_STATUSES, AuditTag, Extension, ExtensionAudit, ExtensionStatus
from live_settings.registry import AutoAction
from live_settings.selectors import config_get
from metrics.instruments import deadline_fired
from pairing.locks import chat_session_claim, chat_session_lock
from pairing.models import ChatSession, ChatStatus
from pairing.representations import iso_datetime
from pairing.timers import timer_schedule
from payments.locks import payment_lock
from payments.models import PaymentStatus, Transaction, TransactionKind
from payments.services import extension_payment_refund_schedule, payment_transition
from realtime.delivery import Event, deliver
from realtime.presence import is_connected

logger = logging.getLogger(__name__)


#: the task that fires an extension's deadline (``extensions.tasks.fire_extension_deadline``)
FIRE_EXTENSION_DEADLINE_TASK = "extensions.tasks.fire_extension_deadline"


def _schedule_extension_timer(extension: Extension) -> None:
    """After commit, enqueue the task that fires the extension's ``deadline_at``."""
    task_after_commit(FIRE_EXTENSION_DEADLINE_TASK, str(extension.id), eta=extension.deadline_at)


@transaction.atomic
def extension_request(*, customer: User, chat_session_id, payment_id) -> Extension:
    """Ask the session's mitra for more time, paid by a confirmed (not yet charged)
    extension payment of this session."""
    session = chat_session_lock(chat_session_id, customer=customer)
    if session is None:
        raise NotFoundError("Chat session not found.")
    if session.status != ChatStatus.ACTIVE or session.ends_at <= timezone.now():
        raise ConflictError(ErrorCode.SESSION_NOT_ACTIVE, "Only an active session can be extended.")
    if Extension.objects.filter(chat_session=session, status=ExtensionStatus.PENDING).exists():
        raise ConflictError(ErrorCode.EXTENSION_PENDING, "An extension request is already waiting for an answer.")
    payment = payment_lock(payment_id=payment_id, customer=customer)
    if not payment.is_extension or payment.chat_session_id != session.id:
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, "This payment is not an extension payment of this session.")
    if payment.status != PaymentStatus.CONFIRMED or payment.expires_at <= timezone.now():
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, f"The payment is {payment.status}, not confirmed.")
    if Extension.objects.filter(payment_session=payment).exists():
        raise ConflictError(ErrorCode.PAYMENT_NOT_USABLE, "This payment was already used for an extension.")

    timeout = config_get("extension_timeout_seconds")
    extension = Extension.objects.create(
        chat_session=session,
        payment_session=payment,
        minutes=payment.duration_minutes,
        timeout_seconds=timeout,
        default_action=config_get("extension_default_action_on_timeout"),
        deadline_at=timezone.now() + timedelta(seconds=timeout),
    )
    deliver(
        events=[
            Event(
                session.mitra_id,
                {
                    "type": "extension_request",
                    "extension_id": str(extension.id),
                    "chat_session_id": str(session.id),
                    "minutes": extension.minutes,
                    "timeout_seconds": extension.timeout_seconds,
                    "default_action": extension.default_action,
                    "expires_at": iso_datetime(extension.deadline_at),
                },
            )
        ]
    )
    _schedule_extension_timer(extension)
    return extension


def _resolve(session: ChatSession, extension: Extension, *, status: str, tag: str, actor=None, online=None, connected=None) -> bool:
    """Record the one outcome. Call holding the session lock. False when another outcome
    already won (nothing is changed then)."""
    now = timezone.now()
    won = Extension.objects.filter(pk=extension.pk, status=ExtensionStatus.PENDING).update(status=status, resolved_at=now)
    if not won:
        return False
    extension.status, extension.resolved_at = status, now
    ExtensionAudit.objects.create(extension=extension, tag=tag, actor=actor, mitra_online=online, mitra_connected=connected)
    payment = payment_lock(payment_id=extension.payment_session_id)
    if status in APPROVED_STATUSES:
        ChatSession.objects.filter(pk=session.pk).update(ends_at=F("ends_at") + timedelta(minutes=extension.minutes))
        session.refresh_from_db(fields=["ends_at"])
        payment_transition(payment, to_status=PaymentStatus.CONSUMED, reason=tag, actor=actor)
        Transaction.objects.create(payment_session=payment, kind=TransactionKind.CHARGE, amount=payment.amount)
    else:
        payment_transition(payment, to_status=PaymentStatus.RELEASED, reason=tag, actor=actor)
        extension_payment_refund_schedule(payment)  # a gateway took the money at payment: it goes back
    # the session's end timer waited for this outcome (or moved): fire it at the current ends_at
    timer_schedule(session.id, session.ends_at)
    payload = {"type": "extension_resolved", "extension_id": str(extension.id), "status": status, "ends_at": iso_datetime(session.ends_at)}
    deliver(events=[Event(session.customer_id, payload), Event(session.mitra_id, payload)])
    return True


def _lock_for_mitra(mitra: User, extension_id) -> tuple[ChatSession, Extension]:
    extension = Extension.objects.filter(id=extension_id, chat_session__mitra=mitra).first()
    if extension is None:
        raise NotFoundError("Extension not found.")
    session = chat_session_lock(extension.chat_session_id)
    extension.refresh_from_db()
    return session, extension


def _answer(*, mitra: User, extension_id, approve: bool) -> Extension:
    session, extension = _lock_for_mitra(mitra, extension_id)
    if extension.status != ExtensionStatus.PENDING:
        raise ConflictError(
            ErrorCode.EXTENSION_RESOLVED, "This extension request has already been answered.", extension_status=extension.status
        )
    if approve and session.status != ChatStatus.ACTIVE:
        raise ConflictError(ErrorCode.SESSION_NOT_ACTIVE, "The session has ended; it can no longer be extended.")
    if approve:
        won = _resolve(session, extension, status=ExtensionStatus.APPROVED, tag=AuditTag.APPROVED, actor=mitra)
    else:
        won = _resolve(session, extension, status=ExtensionStatus.REJECTED, tag=AuditTag.REJECTED, actor=mitra)
    if not won:  # pragma: no cover - the session lock makes the check above final
        raise ConflictError(ErrorCode.EXTENSION_RESOLVED, "This extension request has already been answered.")
    return extension


@transaction.atomic
def extension_approve(*, mitra: User, extension_id) -> Extension:
    return _answer(mitra=mitra, extension_id=extension_id, approve=True)


@transaction.atomic
def extension_decline(*, mitra: User, extension_id) -> Extension:
    return _answer(mitra=mitra, extension_id=extension_id, approve=False)


def extension_deadline_fire(*, extension_id, now=None) -> bool:
    """The mitra did not answer in time. Online **and** connected: the default action;
    offline or no live socket (force-quit): the safeguard rejects. Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        extension = Extension.objects.filter(id=extension_id, status=ExtensionStatus.PENDING, deadline_at__lte=now).first()
        if extension is None:
            return False
        session = chat_session_lock(extension.chat_session_id)
        deadline_fired(deadline="extension", due_at=extension.deadline_at, fired_at=now)
        online = MitraProfile.objects.filter(user_id=session.mitra_id, status=MitraStatus.ONLINE).exists()
        connected = is_connected(session.mitra_id)
        if session.status != ChatStatus.ACTIVE:  # ended early meanwhile: nothing left to extend
            status, tag = ExtensionStatus.REJECTED, AuditTag.REJECTED
        elif not (online and connected):
            status, tag = ExtensionStatus.SAFEGUARD_REJECTED, AuditTag.SAFEGUARD_TRIPPED
        elif extension.default_action == AutoAction.APPROVE:
            status, tag = ExtensionStatus.AUTO_APPROVED, AuditTag.AUTO_APPROVED
        else:
            status, tag = ExtensionStatus.REJECTED, AuditTag.REJECTED
        return _resolve(session, extension, status=status, tag=tag, online=online, connected=connected)


def due_extensions_fire(*, now=None, limit: int = 1000) -> int:
    """Backstop for extension deadlines a lost task missed. Sessions with a due
    extension are claimed with ``FOR UPDATE SKIP LOCKED`` (the session row first, as
    everywhere), so concurrent runs split the work."""
    fired = 0
    while fired < limit:
        with transaction.atomic():
            session_id = chat_session_claim(
                Q(extensions__status=ExtensionStatus.PENDING, extensions__deadline_at__lte=now or timezone.now())
            )
            due = (
                Extension.objects.filter(chat_session_id=session_id, status=ExtensionStatus.PENDING)
                .values_list("id", flat=True)
                .first()
                if session_id
                else None
            )
            if due is None or not extension_deadline_fire(extension_id=due, now=now):
                break
            fired += 1
    if fired:
        logger.warning("backstop fired %d overdue extension deadline(s)", fired)
    return fired


def extension_pending_exists(chat_session_id) -> bool:
    return Extension.objects.filter(chat_session_id=chat_session_id, status=ExtensionStatus.PENDING).exists()
