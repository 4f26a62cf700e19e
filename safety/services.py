"""Safety and trust commands (SPEC §12): reports, blocks, suspension, ratings (crisis
signals: ``safety.crisis``).

Lock order (with the rest of the codebase): user row (``FOR NO KEY UPDATE`` by a
suspension, a block, an erasure; ``FOR SHARE`` by what starts something in the
account's name, ``accounts.locks.account_in_use_lock``) → mitra profile → chat
sessions (primary-key order) → payment session: ``config/locks.py``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.locks import account_lock, mitra_profile_lock
from accounts.models import AccountSuspension, MitraStatus, Role, SuspensionAction, User
from accounts.suspended import suspended_users_publish
from chat.models import SenderRole
from chat.services import participant_role
from config.errors import AppError, ConflictError, ErrorCode, NotFoundError
from config.on_commit import after_commit
from failed_pairings.models import CauseTag
from live_settings.selectors import config_get
from pairing import lifecycle
from pairing.attempts import customer_attempts_end, offers_withdraw
from pairing.locks import customer_waiting_attempts_lock
from pairing.models import OCCUPYING_STATUSES, ChatSession, ChatStatus, EndedBy
from pairing.selectors import availability_refresh
from realtime.delivery import close_sockets
from safety import selectors
from safety.crisis import note_clean
from safety.locks import report_lock
from safety.models import REPORT_ACTIONS, Block, Rating, Report, ReportAction, ReportStatus

logger = logging.getLogger(__name__)

MAX_REASON_LENGTH = 1000


# --- reports and blocks ------------------------------------------------------------------------------
_REPORT_SQL = f"""
    INSERT INTO {Report._meta.db_table} (chat_session_id, reporter_id, reporter_role, reported_id, reason, text)
    VALUES (%s, %s, %s, %s, %s, %s)
    ON CONFLICT (chat_session_id, reporter_id) DO NOTHING
    RETURNING id
"""


@transaction.atomic
def report_create(*, user: User, chat_session_id, reason: str, text: str = "", block: bool = False) -> tuple[Report, bool]:
    """Report the other side of a session the caller took part in (once per side: a
    repeat returns the first report, ``created`` False). A customer may block the mitra
    with it. Returns ``(report, created)``."""
    session = ChatSession.objects.filter(id=chat_session_id).first()
    if session is None:
        raise NotFoundError("Chat session not found.")
    role = participant_role(session, user)
    if session.mitra_id is None:
        raise ConflictError(ErrorCode.SESSION_NOT_ACTIVE, "This chat never started: there is nobody to report.")
    reported_id = session.mitra_id if role == SenderRole.CUSTOMER else session.customer_id
    with connection.cursor() as cursor:
        cursor.execute(_REPORT_SQL, [session.id, user.id, role, reported_id, reason, text])
        created = cursor.fetchone() is not None
    report = Report.objects.get(chat_session=session, reporter=user)
    if block and role == SenderRole.CUSTOMER:
        block_create(customer=user, mitra_id=session.mitra_id)
    if created:
        logger.info("report %s: %s reported a session (%s)", report.id, role, reason)
    return report, created


@transaction.atomic
def report_action(*, report_id, action: str, actor: User, note: str = "", end_active_sessions: bool = False) -> Report:
    """An operator's decision on an open report: ``dismissed``, ``warned`` or
    ``suspended`` (which suspends the reported account, the note as its reason). Once:
    a decided report answers 409 ``already_actioned``."""
    if action not in REPORT_ACTIONS:
        raise AppError(ErrorCode.INVALID_INPUT, f"action: Must be one of {', '.join(REPORT_ACTIONS)}.", errors={"action": ["Invalid."]})
    note = note_clean(note)
    report = report_lock(report_id)
    if report is None:
        raise NotFoundError("Report not found.")
    if report.status != ReportStatus.OPEN:
        raise ConflictError(ErrorCode.ALREADY_ACTIONED, f"This report is already {report.status}.")
    Report.objects.filter(pk=report.pk).update(status=action, updated_at=timezone.now())
    ReportAction.objects.create(report=report, action=action, note=note, actor=actor)
    if action == ReportStatus.SUSPENDED:
        reason = (note or f"Report {report.id} ({report.reason})")[:MAX_REASON_LENGTH]
        account_suspend(user_id=report.reported_id, actor=actor, reason=reason, end_active_sessions=end_active_sessions)
    return selectors.report_get(report_id=report.pk)


_BLOCK_SQL = f"""
    INSERT INTO {Block._meta.db_table} (customer_id, mitra_id) VALUES (%s, %s)
    ON CONFLICT (customer_id, mitra_id) DO NOTHING
"""


@transaction.atomic
def block_create(*, customer: User, mitra_id) -> Block:
    """Block a mitra: never offered this customer's requests again (late joiners
    included), and whatever is offered to them now is withdrawn; a waiting returning
    request to them ends (its payment stays usable for another bestie). Idempotent.

    Against a blast being offered at this moment: the blast share-locks the customer's
    account row before it reads the blocks; this takes it exclusively, so either the
    blast's read sees the block, or this waits for the blast to commit and withdraws
    its offer. Against a late joiner: both lock the customer's waiting attempts before
    reading or writing offers."""
    if not User.objects.filter(id=mitra_id, role=Role.MITRA).exists():
        raise NotFoundError("Bestie not found.")
    account_lock(customer.id)  # offers share-lock it
    customer_waiting_attempts_lock(customer.id)
    with connection.cursor() as cursor:
        cursor.execute(_BLOCK_SQL, [customer.id, mitra_id])
    offers_withdraw(mitra_id=mitra_id, customer_id=customer.id, returning_cause=CauseTag.CUSTOMER_BLOCKED_MITRA)
    return Block.objects.get(customer=customer, mitra_id=mitra_id)


def block_delete(*, customer: User, mitra_id) -> bool:
    """Unblock (idempotent). Returns whether a block was removed."""
    deleted, _ = Block.objects.filter(customer=customer, mitra_id=mitra_id).delete()
    return bool(deleted)


# --- suspension --------------------------------------------------------------------------------------
def audit_reason_clean(reason) -> str:
    """An operator's reason for an audited account action (suspension, reactivation,
    erasure): required, stripped, at most ``MAX_REASON_LENGTH`` characters."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise AppError(ErrorCode.INVALID_INPUT, "reason: A reason is required.", errors={"reason": ["A reason is required."]})
    if len(reason) > MAX_REASON_LENGTH:
        raise AppError(ErrorCode.INVALID_INPUT, f"reason: At most {MAX_REASON_LENGTH} characters.", errors={"reason": ["Too long."]})
    return reason


def _lock_account(user_id) -> User:
    user = account_lock(user_id)
    if user is None:
        raise NotFoundError("User not found.")
    if user.role not in (Role.CUSTOMER, Role.MITRA):
        raise ConflictError(ErrorCode.CONFLICT, "Only customers and mitras can be suspended.")
    return user


@transaction.atomic
def account_suspend(*, user_id, actor: User, reason: str, end_active_sessions: bool = False) -> User:
    """Suspend a customer or mitra (SPEC §12), audited. From the commit on: REST answers
    401 ``account_suspended`` to their access and refresh tokens, their sockets close
    (4401) and new ones are refused. A mitra goes offline and leaves every open offer;
    a customer's searches end. Running sessions go on unless ``end_active_sessions``
    (ended as by an operator; no money moves by itself). Suspending again is recorded
    and changes nothing else (but may end sessions)."""
    reason = audit_reason_clean(reason)
    user = _lock_account(user_id)
    if user.suspended_at is None:
        user.suspended_at = timezone.now()
        user.save(update_fields=["suspended_at"])
    AccountSuspension.objects.create(
        user=user, action=SuspensionAction.SUSPENDED, reason=reason, end_active_sessions=end_active_sessions, actor=actor
    )
    if user.role == Role.MITRA:
        profile = mitra_profile_lock(user.id)
        if profile.status != MitraStatus.OFFLINE:
            profile.status, profile.status_changed_at = MitraStatus.OFFLINE, timezone.now()
            profile.save(update_fields=["status", "status_changed_at"])
        offers_withdraw(mitra_id=user.id, returning_cause=CauseTag.TARGETED_MITRA_OFFLINE)
        after_commit(availability_refresh)
    else:
        customer_attempts_end(customer_id=user.id, cause=CauseTag.ACCOUNT_SUSPENDED)
    if end_active_sessions:
        running = ChatSession.objects.filter(status__in=OCCUPYING_STATUSES).filter(
            **({"mitra": user} if user.role == Role.MITRA else {"customer": user})
        )
        for session_id in running.order_by("created_at", "id").values_list("id", flat=True):
            lifecycle.chat_end(user=actor, chat_session_id=session_id, ended_by=EndedBy.OPERATOR)
    user_id = user.id
    after_commit(lambda: close_sockets([user_id]))
    after_commit(suspended_users_publish)
    logger.info("account %s suspended by %s", user_id, actor.pk)
    return user


@transaction.atomic
def account_reactivate(*, user_id, actor: User, reason: str) -> User:
    """Lift a suspension, audited. A mitra comes back offline (they go online themselves)."""
    reason = audit_reason_clean(reason)
    user = _lock_account(user_id)
    if user.suspended_at is not None:
        user.suspended_at = None
        user.save(update_fields=["suspended_at"])
    AccountSuspension.objects.create(user=user, action=SuspensionAction.REACTIVATED, reason=reason, actor=actor)
    after_commit(suspended_users_publish)
    logger.info("account %s reactivated by %s", user.id, actor.pk)
    return user


# --- ratings -----------------------------------------------------------------------------------------
def rating_create(*, customer: User, chat_session_id, stars: int, comment: str = "") -> Rating:
    """Rate a completed session once, within ``rating_window_days`` of its end."""
    session = ChatSession.objects.filter(id=chat_session_id, customer=customer).first()
    if session is None:
        raise NotFoundError("Chat session not found.")
    if session.status != ChatStatus.COMPLETED:
        raise ConflictError(ErrorCode.SESSION_NOT_COMPLETED, "A session can be rated once it has ended.")
    if session.ended_at + timedelta(days=config_get("rating_window_days")) < timezone.now():
        raise ConflictError(ErrorCode.RATING_WINDOW_CLOSED, "This session can no longer be rated.")
    try:
        with transaction.atomic():
            return Rating.objects.create(
                chat_session=session, customer=customer, mitra_id=session.mitra_id, stars=stars, comment=comment
            )
    except IntegrityError:
        raise ConflictError(ErrorCode.ALREADY_RATED, "You have already rated this session.") from None
