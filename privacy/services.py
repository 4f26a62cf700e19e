"""Privacy commands (SPEC §13): erasing an account.

An erasure removes what is personal — contact details, name, the texts of messages,
devices, blocks, rating comments — and keeps what accounting needs (payments,
transactions, failure rows, sessions) linked to the anonymised account, which can no
longer sign in: its tokens stop working at once (every REST path and socket checks
``is_active``; its sockets are closed after the commit).

Races: the erasure takes the account row ``FOR NO KEY UPDATE`` before it looks for a
live session; a payment, a chat start or a blast's offers take it ``FOR SHARE``
(``accounts.locks.account_in_use_lock``) and re-check the account after. Whichever
commits first wins: a search that got there first makes the erasure answer 409
``active_session``; one that comes after finds the account gone and starts nothing.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from fcm_django.models import FCMDevice
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.locks import account_lock
from accounts.models import CustomerProfile, MitraProfile, MitraStatus, Role, User
from accounts.suspended import suspended_users_publish
from chat.models import Message
from config.errors import AppError, ConflictError, ErrorCode, NotFoundError
from config.on_commit import after_commit
from failed_pairings.models import CauseTag
from pairing.attempts import offers_withdraw
from pairing.models import LIVE_STATUSES, ChatSession
from pairing.selectors import availability_refresh
from privacy.models import AccountErasure
from safety.models import Block, Rating
from safety.services import audit_reason_clean

logger = logging.getLogger(__name__)

ERASED_CUSTOMER_NAME = "Pengguna"
ERASED_MITRA_NAME = "Bestie"


def account_erase_by_self(*, user: User, password: str) -> None:
    """``DELETE /api/me``: the person's own erasure, with their password."""
    if not isinstance(password, str) or not user.check_password(password):
        raise AppError(ErrorCode.WRONG_PASSWORD, "Wrong password.", errors={"password": ["Wrong password."]})
    account_erase(user_id=user.id, actor_id=user.id)


@transaction.atomic
def mitra_erase(*, mitra_id, actor: User, reason: str) -> None:
    """The control center: an operator erases a mitra (SPEC §13: "mitras are erased by
    operators"), with a reason kept in the audit row beside who and when. Refused like
    the person's own erasure while a session of theirs is live (409 ``active_session``),
    and for an account that is not a mitra's or is erased already (409 ``conflict``)."""
    reason = audit_reason_clean(reason)
    role = User.objects.filter(id=mitra_id).values_list("role", flat=True).first()
    if role is None:
        raise NotFoundError("User not found.")
    if role != Role.MITRA:
        raise ConflictError(ErrorCode.CONFLICT, "Only mitras are erased by operators; customers erase their own accounts.")
    try:
        erased = account_erase(user_id=mitra_id, actor_id=actor.id, reason=reason)
    except ConflictError as exc:
        if exc.code != ErrorCode.ACTIVE_SESSION:
            raise
        # the same refusal, in the operator's words (the person's own erasure says "your chat")
        raise ConflictError(
            ErrorCode.ACTIVE_SESSION, "This mitra has a session waiting, active or closing; erase them once it has ended."
        ) from exc
    if not erased:
        raise ConflictError(ErrorCode.CONFLICT, "This mitra is erased already.")


@transaction.atomic
def account_erase(*, user_id, actor_id, reason: str = "") -> bool:
    """Erase a customer's or mitra's personal data (see the module docstring). Refused
    with 409 ``active_session`` while a session of theirs is waiting, active or closing.
    Erasing an erased account changes nothing (returns False; True when erased now)."""
    user = account_lock(user_id, role__in=[Role.CUSTOMER, Role.MITRA])
    if user is None or hasattr(user, "erasure"):
        return False
    live = ChatSession.objects.filter(Q(customer=user) | Q(mitra=user), status__in=LIVE_STATUSES)
    if live.exists():
        raise ConflictError(ErrorCode.ACTIVE_SESSION, "Finish or cancel your running chat first.")
    now = timezone.now()
    # the texts: everything this person wrote, and (a customer's) whole conversations
    conversations = Q(sender_user=user) | Q(chat_session__customer=user)
    Message.objects.filter(conversations, purged_at__isnull=True).update(text="", purged_at=now)
    CustomerProfile.objects.filter(user=user).update(call_name=ERASED_CUSTOMER_NAME)
    if user.role == Role.MITRA:
        MitraProfile.objects.filter(user=user).update(display_name=ERASED_MITRA_NAME, status=MitraStatus.OFFLINE, status_changed_at=now)
        # what is offered to them now goes to the others (a returning request ends as offline)
        offers_withdraw(mitra_id=user.id, returning_cause=CauseTag.TARGETED_MITRA_OFFLINE)
        after_commit(availability_refresh)
    Rating.objects.filter(customer=user).update(comment="")
    Block.objects.filter(customer=user).delete()
    FCMDevice.objects.filter(user=user).delete()
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=t) for t in OutstandingToken.objects.filter(user=user)], ignore_conflicts=True
    )
    # a placeholder address keeps the "phone or email" constraint; it reaches no one
    user.email, user.phone = f"erased-{user.id.hex}@erased.invalid", None
    user.is_active = False
    user.set_unusable_password()
    user.save(update_fields=["email", "phone", "is_active", "password"])  # closes its sockets after the commit
    AccountErasure.objects.create(user=user, erased_by_id=actor_id, reason=reason)
    after_commit(suspended_users_publish)  # the availability fast path learns it too
    logger.info("account %s erased", user.id)
    return True
