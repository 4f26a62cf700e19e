"""Pairing reads: who is available, what is offered to whom, a session for its participants."""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import MitraProfile, MitraStatus
from config.errors import NotFoundError
from config.redis_client import get_async_redis, get_redis
from live_settings.selectors import config_get
from pairing.models import OCCUPYING_STATUSES, ChatSession, ChatStatus, NotificationStatus

AVAILABILITY_TTL_SECONDS = 10



def _available_mitras():
    """Online mitras below capacity, with their occupying-session counts, in one query
    (served by ``idx_chat_sessions_mitra_status``)."""
    return (
        MitraProfile.objects.filter(status=MitraStatus.ONLINE)
        .annotate(active_sessions=Count("user__mitra_sessions", filter=Q(user__mitra_sessions__status__in=OCCUPYING_STATUSES)))
        .filter(active_sessions__lt=config_get("max_customers_per_mitra"))
    )


def available_mitra_ids(*, customer_id=None) -> list:
    """Available mitras, less those ``customer_id`` has blocked (SPEC §12). Call holding
    ``accounts.locks.account_in_use_lock`` of the customer when offering them this
    customer's request: a block (or an erasure) takes that row with ``account_lock``,
    so it waits for the offers to commit and then withdraws them, or is seen here."""
    mitras = _available_mitras()
    if customer_id is not None:
        mitras = mitras.exclude(user__blocked_by__customer_id=customer_id)
    return list(mitras.values_list("user_id", flat=True))


def mitra_available_now() -> bool:
    return _available_mitras().exists()


# --- the shared availability cache (SPEC §3) ------------------------------------------
def _availability_key() -> str:
    return f"{settings.REDIS_PREFIX}:availability"


def availability_refresh() -> bool:
    """Recompute now and share the answer with every process for the next TTL window."""
    value = mitra_available_now()
    get_redis().set(_availability_key(), "1" if value else "0", ex=AVAILABILITY_TTL_SECONDS)
    return value


async def availability_cached() -> bool | None:
    """The shared answer if one is cached, else ``None`` (the caller then takes the
    ``availability_get`` path, which computes it at most once per window). No query."""
    redis = get_async_redis()
    async with redis.slot:
        cached = await redis.client.get(_availability_key())
    return None if cached is None else cached == "1"


def availability_get() -> bool:
    """Served from Redis. On a miss exactly one caller (across all processes) queries;
    the others wait for its answer, so a window costs at most one query."""
    client = get_redis()
    key = _availability_key()
    cached = client.get(key)
    if cached is not None:
        return cached == "1"
    if client.set(f"{key}:refreshing", "1", nx=True, ex=5):
        try:
            return availability_refresh()
        finally:
            client.delete(f"{key}:refreshing")
    for _ in range(100):  # another process is computing it: wait up to ~1 s
        time.sleep(0.01)
        cached = client.get(key)
        if cached is not None:
            return cached == "1"
    return availability_refresh()


# --- sessions and requests ----------------------------------------------------------------
def _sessions():
    return ChatSession.objects.select_related("mitra__mitra_profile", "customer__customer_profile")


def chat_session_for_customer_get(*, customer, chat_session_id) -> ChatSession:
    session = _sessions().filter(id=chat_session_id, customer=customer).first()
    if session is None:
        raise NotFoundError("Chat session not found.")
    return session


def chat_session_get(*, chat_session_id) -> ChatSession:
    return _sessions().get(id=chat_session_id)


def open_requests_for_mitra(*, mitra) -> list[ChatSession]:
    """Requests offered to ``mitra`` that are still waiting and not past their deadline."""
    return list(
        ChatSession.objects.select_related("customer__customer_profile")
        .filter(
            notifications__mitra=mitra,
            notifications__status=NotificationStatus.OFFERED,
            status=ChatStatus.WAITING,
            deadline_at__gt=timezone.now(),
        )
        .order_by("created_at")
    )


def sessions_for_mitra(*, mitra, status: str | None = None) -> list[ChatSession]:
    qs = _sessions().filter(mitra=mitra)
    if status:
        qs = qs.filter(status=status)
    return list(qs.order_by("-started_at"))


def mitra_has_room(*, mitra_id, customer_id=None) -> bool:
    """The capacity rule (SPEC §5), one query: a mitra takes a request while they have
    fewer than ``max_customers_per_mitra`` sessions active or closing. A returning chat
    (``customer_id``: its customer) also fits a mitra at capacity only because of
    sessions with this same customer."""
    occupying = list(ChatSession.objects.filter(mitra_id=mitra_id, status__in=OCCUPYING_STATUSES).values_list("customer_id", flat=True))
    if len(occupying) < config_get("max_customers_per_mitra"):
        return True
    return customer_id is not None and customer_id in occupying


def mitra_active_session_count(*, mitra) -> int:
    return ChatSession.objects.filter(mitra=mitra, status__in=OCCUPYING_STATUSES).count()


def sessions_list_for_operators(*, status: str | None = None, limit: int = 500) -> list[ChatSession]:
    qs = _sessions()
    if status:
        qs = qs.filter(status=status)
    return list(qs.order_by("-created_at")[:limit])


def chat_history(*, customer) -> list[ChatSession]:
    """Completed sessions, newest first, each with its mitra (for "Curhat lagi")."""
    return list(
        ChatSession.objects.select_related("mitra__mitra_profile")
        .filter(customer=customer, status=ChatStatus.COMPLETED)
        .order_by("-ended_at", "-created_at")
    )
