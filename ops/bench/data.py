"""The bench's own database, environment and data, made in bulk from this process.

Why bulk and direct: the scenarios need ~15,000 accounts. Creating them through the
API (a password hash and a login per user) would take longer than the whole bench
and measure nothing of interest. So users and profiles are ``bulk_create``d with
one precomputed password hash, access tokens are minted the way
``accounts.services.token_obtain`` mints them, and payments or running sessions a
scenario only needs as a starting point are inserted as rows.

Every function below except the three set-up helpers at the top needs Django set up
(``django_setup``) and must run in the bench's one database thread
(``Bench.db``): Django's ORM is synchronous and thread-bound.
"""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

BENCH_DATABASE = "curhat_bench"
BENCH_REDIS_PREFIX = "curhat-bench"
SESSION_AMOUNT = 50_000
SESSION_MINUTES = 30


# --- set-up, before Django ---------------------------------------------------------------
def database_url_for(url: str, name: str) -> str:
    """``url`` with its database name replaced (the query, e.g. ``?host=<socket dir>``, kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def recreate_database(server_url: str) -> str:
    """Drop and create ``curhat_bench`` on the server of ``server_url`` (connecting to its
    ``postgres`` database); return the bench database's URL. A fresh database each run:
    no leftovers of an earlier (maybe crashed) run can skew a figure."""
    import psycopg

    with psycopg.connect(database_url_for(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    return database_url_for(server_url, BENCH_DATABASE)


def clear_redis(redis_url: str, prefix: str = BENCH_REDIS_PREFIX) -> int:
    """Delete the keys of earlier bench runs (cache, channel layer, broker queues, counters)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    deleted, batch = 0, []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    client.close()
    return deleted


def bench_environment(database_url: str) -> dict[str, str]:
    """What every process of the run gets (the app's children inherit ``os.environ``)."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "CURHAT_REDIS_PREFIX": BENCH_REDIS_PREFIX,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "CURHAT_BENCH": "1",
        "LOG_LEVEL": "WARNING",
        "CELERY_LOG_LEVEL": "WARNING",
        "WEB_ACCESS_LOG": "/dev/null",  # a line per request of hundreds of thousands
        "PUSH_BACKEND": "realtime.push.OutboxPushBackend",
        # SPEC §11: with DEBUG off the instant provider must be allowed explicitly
        "ALLOW_INSTANT_PAYMENTS": "1",
    }


def django_setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


# --- people -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    id: str
    token: str


class Population:
    """Every account of the run. Customers are handed out once each (a fresh customer per
    blast round keeps rounds independent); mitras are addressed by slices."""

    def __init__(self, customers: list[Person], mitras: list[Person]) -> None:
        self.customers = customers
        self.mitras = mitras
        self._next = 0

    def take_customers(self, n: int) -> list[Person]:
        if self._next + n > len(self.customers):
            raise RuntimeError(f"population has no {n} unused customers left")
        taken = self.customers[self._next : self._next + n]
        self._next += n
        return taken


def access_token(user) -> str:
    """The access token ``accounts.services.token_obtain`` issues (same claims), without
    the login and without a refresh token (which the blacklist app records one by one)."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    token["role"] = user.role
    return str(token)


def create_population(*, customers: int, mitras: int) -> Population:
    """``customers`` customers (with a profile and call_name) and ``mitras`` mitras (profile,
    display_name, offline), all in bulk with one password hash."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from accounts.models import CustomerProfile, MitraProfile, MitraStatus, Role, User

    password = make_password(secrets.token_urlsafe(16))  # hashed once; nobody logs in with it
    run = uuid.uuid4().hex[:6]
    customer_users = [
        User(id=uuid.uuid4(), email=f"bench-{run}-c{i}@bench.test", role=Role.CUSTOMER, password=password)
        for i in range(customers)
    ]
    mitra_users = [
        User(id=uuid.uuid4(), email=f"bench-{run}-m{i}@bench.test", role=Role.MITRA, password=password)
        for i in range(mitras)
    ]
    with transaction.atomic():
        User.objects.bulk_create(customer_users + mitra_users, batch_size=2000)
        CustomerProfile.objects.bulk_create(
            [CustomerProfile(user=u, call_name=f"Bench {i}") for i, u in enumerate(customer_users)], batch_size=2000
        )
        MitraProfile.objects.bulk_create(
            [MitraProfile(user=u, display_name=f"Bestie {i}", status=MitraStatus.OFFLINE) for i, u in enumerate(mitra_users)],
            batch_size=2000,
        )
    return Population(
        [Person(str(u.id), access_token(u)) for u in customer_users],
        [Person(str(u.id), access_token(u)) for u in mitra_users],
    )


# --- state a scenario starts from ---------------------------------------------------------
def set_online(mitra_ids: list[str]) -> None:
    """Exactly ``mitra_ids`` online, every other mitra offline; then refresh the shared
    availability answer (as the status toggle does)."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import MitraProfile, MitraStatus
    from pairing.selectors import availability_refresh

    now = timezone.now()
    with transaction.atomic():
        MitraProfile.objects.filter(status=MitraStatus.ONLINE).update(status=MitraStatus.OFFLINE, status_changed_at=now)
        for offset in range(0, len(mitra_ids), 2000):
            MitraProfile.objects.filter(user_id__in=mitra_ids[offset : offset + 2000]).update(
                status=MitraStatus.ONLINE, status_changed_at=now
            )
    availability_refresh()


def set_config(**changes) -> None:
    """Runtime settings through the operators' service (saved, audited, invalidated in
    every process via ``config:invalidate``)."""
    from live_settings.services import config_update

    config_update(changes=changes)


def confirmed_payments(customer_ids: list[str]) -> dict[str, str]:
    """One confirmed (paid, unused) session payment per customer; customer id → payment id."""
    from django.utils import timezone

    from payments.models import PaymentSession, PaymentStatus

    now = timezone.now()
    rows = [
        PaymentSession(
            id=uuid.uuid4(), customer_id=cid, amount=SESSION_AMOUNT, duration_minutes=SESSION_MINUTES,
            status=PaymentStatus.CONFIRMED, expires_at=now + timedelta(hours=2), confirmed_at=now,
        )
        for cid in customer_ids
    ]
    PaymentSession.objects.bulk_create(rows, batch_size=2000)
    return {str(p.customer_id): str(p.id) for p in rows}


def stale_pending_payments(customer_ids: list[str]) -> dict[str, str]:
    """One pending payment per customer, already past ``expires_at`` (what the sweeper expires)."""
    from django.utils import timezone

    from payments.models import PaymentSession, PaymentStatus

    now = timezone.now()
    rows = [
        PaymentSession(
            id=uuid.uuid4(), customer_id=cid, amount=SESSION_AMOUNT, duration_minutes=SESSION_MINUTES,
            status=PaymentStatus.PENDING, expires_at=now - timedelta(minutes=1),
        )
        for cid in customer_ids
    ]
    PaymentSession.objects.bulk_create(rows, batch_size=2000)
    return {str(p.customer_id): str(p.id) for p in rows}


def active_sessions(pairs: list[tuple[str, str]]) -> list[str]:
    """A running chat session per ``(customer_id, mitra_id)``: its payment consumed, started
    now, ending in two hours (no timer fires during the bench). Returns the session ids."""
    from django.db import transaction
    from django.utils import timezone

    from pairing.models import ChatSession, ChatStatus, RequestType
    from payments.models import PaymentSession, PaymentStatus

    now = timezone.now()
    with transaction.atomic():
        payments = [
            PaymentSession(
                id=uuid.uuid4(), customer_id=cid, amount=SESSION_AMOUNT, duration_minutes=120,
                status=PaymentStatus.CONSUMED, expires_at=now + timedelta(hours=2), confirmed_at=now,
            )
            for cid, _ in pairs
        ]
        PaymentSession.objects.bulk_create(payments)
        sessions = [
            ChatSession(
                id=uuid.uuid4(), customer_id=cid, mitra_id=mid, payment_session=payment,
                request_type=RequestType.GENERAL, status=ChatStatus.ACTIVE, duration_minutes=120,
                started_at=now, ends_at=now + timedelta(hours=2),
            )
            for (cid, mid), payment in zip(pairs, payments)
        ]
        ChatSession.objects.bulk_create(sessions)
        for payment, session in zip(payments, sessions):
            payment.chat_session_id = session.id
        PaymentSession.objects.bulk_update(payments, ["chat_session"])
    return [str(s.id) for s in sessions]


def chat_deadlines(session_ids: list[str]) -> dict[str, object]:
    """``deadline_at`` of waiting attempts (read before they fire: firing clears it)."""
    from pairing.models import ChatSession

    return {
        str(sid): deadline
        for sid, deadline in ChatSession.objects.filter(id__in=session_ids, deadline_at__isnull=False).values_list("id", "deadline_at")
    }


def pending_attempts(session_ids: list[str]) -> int:
    """How many of ``session_ids`` are still waiting with their deadline ahead."""
    from django.utils import timezone

    from pairing.models import ChatSession, ChatStatus

    return ChatSession.objects.filter(id__in=session_ids, status=ChatStatus.WAITING, deadline_at__gt=timezone.now()).count()


def failure_rows(session_ids: list[str]) -> list[tuple[str, str, object]]:
    """``(chat_session_id, cause_tag, created_at)`` of every failure row of these attempts."""
    from failed_pairings.models import PairingFailure

    return [
        (str(sid), tag, created)
        for sid, tag, created in PairingFailure.objects.filter(chat_session_id__in=session_ids).values_list(
            "chat_session_id", "cause_tag", "created_at"
        )
    ]


def availability_queries_on_hit() -> tuple[bool, list[str]]:
    """P1's query check: the second ``availability_get()`` (the first may fill the cache)
    must run no SQL. Returns the answer and the SQL it ran."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pairing.selectors import availability_get

    availability_get()
    with CaptureQueriesContext(connection) as captured:
        answer = availability_get()
    return answer, [q["sql"] for q in captured.captured_queries]


def wait_for_beat_schedule(timeout: float) -> bool:
    """Beat writes its schedule (``CELERY_BEAT_SCHEDULE``) to the database when it starts;
    until then it is not ready (and P6 could not pause its sweeper)."""
    import time

    from django_celery_beat.models import PeriodicTask

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if PeriodicTask.objects.filter(task="payments.tasks.sweep_payments").exists():
            return True
        time.sleep(0.5)
    return False


def beat_sweeper_enabled(enabled: bool) -> int:
    """Pause or resume beat's own ``sweep_payments`` entry (django-celery-beat reloads a
    changed schedule on its next tick, ≤ 5 s), so P6's timed pass is the one that finds
    the stale rows."""
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    changed = PeriodicTask.objects.filter(task="payments.tasks.sweep_payments").update(enabled=enabled)
    PeriodicTasks.update_changed()
    return changed


def delivery_dropped() -> int | None:
    """The app's count of websocket events finally dropped (all processes), when the app
    exposes one (``realtime.delivery.delivery_stats``); None when it does not."""
    try:
        from realtime.delivery import delivery_stats
    except ImportError:
        return None
    stats = delivery_stats()
    return int(stats["events_dropped"]) if "events_dropped" in stats else None


def old_messages(pairs: list[tuple[str, str]], total: int, *, days_old: int) -> int:
    """``total`` messages spread over one completed session per ``(customer_id,
    mitra_id)``, all ``days_old`` days old (past the retention the purge keeps): made
    by one ``INSERT … SELECT`` over ``generate_series`` in the database, then analysed.
    Returns the number of messages with text before the purge."""
    from django.db import connection
    from django.utils import timezone

    from chat.models import Message
    from pairing.models import ChatSession, ChatStatus

    session_ids = active_sessions(pairs)
    ChatSession.objects.filter(id__in=session_ids).update(status=ChatStatus.COMPLETED, ended_at=timezone.now())
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (id, chat_session_id, sender, sender_user_id, text, client_message_id, created_at)
            SELECT gen_random_uuid(), s.id, 'customer', s.customer_id,
                   'pesan lama nomor ' || g || ' dengan teks yang cukup panjang untuk sebuah curhat', 'p8-' || g,
                   now() - make_interval(days => %s) - g * interval '1 millisecond'
            FROM generate_series(1, %s) AS g
            JOIN (SELECT id, customer_id, row_number() OVER (ORDER BY id) - 1 AS n FROM chat_sessions WHERE id = ANY(%s::uuid[])) AS s
              ON s.n = g %% %s
            """,
            [days_old, total, session_ids, len(session_ids)],
        )
        cursor.execute(f"ANALYZE {table}")
        # the old ones only: other scenarios' messages (P4's) are recent and stay
        cursor.execute(
            f"SELECT count(*) FROM {table} WHERE purged_at IS NULL AND text <> '' AND created_at < now() - make_interval(days => %s)",
            [days_old - 1],
        )
        return cursor.fetchone()[0]


def unpurged_old_messages(days_old: int) -> int:
    from django.db import connection

    from chat.models import Message

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {Message._meta.db_table} WHERE created_at < now() - make_interval(days => %s) AND text <> ''",
            [days_old - 1],
        )
        return cursor.fetchone()[0]
