"""The lock order of ``config/locks.py`` on the hot paths, read from the SQL each path
sends: every explicit row lock (``SELECT … FOR UPDATE / NO KEY UPDATE / SHARE``) is on
a table at or after the last one locked — unless the transaction already holds rows of
that table — and a lock of several rows takes them in primary-key order (or ``SKIP
LOCKED``, which never waits)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import services as chat_services
from config.locks import LOCK_ORDER
from extensions import services as extension_services
from failed_pairings import services as failed_pairing_services
from failed_pairings.models import OperatorAction, PairingFailure
from pairing import answers, attempts, deadlines, lifecycle, returning
from pairing.models import ChatSession, ChatStatus, EndedBy
from payments import services as payment_services
from payments.models import PaymentSession, TierKind
from privacy import services as privacy_services
from safety import services as safety_services

pytestmark = pytest.mark.django_db

RANK = {table: rank for rank, table in enumerate(LOCK_ORDER)}
PRIMARY_KEYS = {model._meta.db_table: model._meta.pk.column for model in apps.get_models()}
_LOCK_CLAUSE = re.compile(r"\bFOR (?:NO KEY UPDATE|UPDATE|KEY SHARE|SHARE)(?: OF (\"?\w+\"?(?:, *\"?\w+\"?)*))?", re.I)


def _table_of(sql: str, alias: str | None) -> str:
    if alias is None:
        return re.search(r'\bFROM\s+"?(\w+)"?', sql, re.I).group(1)
    alias = alias.strip('"')
    aliased = re.search(rf'\b(?:FROM|JOIN)\s+"?(\w+)"?\s+(?:AS\s+)?"?{alias}"?\b', sql, re.I)
    return aliased.group(1) if aliased else alias


def row_locks(statements: list[str]) -> list[tuple[str, str]]:
    """(table, statement) of each explicit row lock, in the order they were sent."""
    found = []
    for sql in statements:
        clause = _LOCK_CLAUSE.search(sql)
        if clause and sql.lstrip().upper().startswith(("SELECT", "WITH")):
            for alias in (clause.group(1) or "").split(",") if clause.group(1) else [None]:
                found.append((_table_of(sql, alias.strip() if alias else None), sql))
    return found


def order_violations(statements: list[str]) -> list[str]:
    problems, held, last = [], set(), -1
    for table, sql in row_locks(statements):
        pk = PRIMARY_KEYS.get(table, "id")
        one_row = re.search(r"\bLIMIT 1\b", sql) or re.search(rf'(?<![\w"])(?:"?\w+"?\.)?"?{pk}"?\s*=\s*', sql)
        never_waits = "SKIP LOCKED" in sql.upper()  # takes what is free, so it cannot deadlock
        if not (one_row or never_waits) and not re.search(rf'ORDER BY "?{table}"?\."?{pk}"? ASC', sql):
            problems.append(f"several {table} rows locked, not in primary-key order: {sql[:300]}")
        if table not in RANK or table in held:
            continue
        if RANK[table] < last:
            problems.append(f"{table} locked after {LOCK_ORDER[last]}: {sql[:300]}")
        held.add(table)
        last = RANK[table]
    return problems


def traced(call):
    """Run ``call`` in one transaction (as its service or view does); its SQL."""
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        call()
    return [q["sql"] for q in queries.captured_queries]


# --- the checker itself ---------------------------------------------------------------------------
def test_checker_flags_a_lock_out_of_order_and_rows_out_of_key_order():
    payment = 'SELECT * FROM "payment_sessions" WHERE "payment_sessions"."id" = 1 LIMIT 1 FOR UPDATE'
    session = 'SELECT * FROM "chat_sessions" WHERE "chat_sessions"."id" = 2 LIMIT 1 FOR UPDATE'
    by_date = 'SELECT * FROM "chat_sessions" WHERE "chat_sessions"."status" = 1 ORDER BY "chat_sessions"."created_at" ASC FOR UPDATE'
    by_key = 'SELECT * FROM "chat_sessions" WHERE "chat_sessions"."status" = 1 ORDER BY "chat_sessions"."id" ASC FOR UPDATE OF "chat_sessions"'
    share = "SELECT is_active FROM users WHERE id = 3 FOR SHARE"
    claim = 'SELECT id FROM payment_sessions WHERE status = 1 FOR UPDATE SKIP LOCKED'
    by_customer = 'SELECT * FROM "chat_sessions" WHERE "chat_sessions"."customer_id" = 4 FOR UPDATE'

    assert order_violations([session, payment]) == []
    assert order_violations([share, by_key, payment, session]) == []  # chat_sessions already held
    assert len(order_violations([payment, session])) == 1
    assert len(order_violations([by_date])) == 1
    assert len(order_violations([payment, share])) == 1
    assert order_violations([claim]) == []
    assert len(order_violations([by_customer])) == 1


# --- the hot paths ----------------------------------------------------------------------------------
@pytest.fixture
def world(make_customer, online_mitra, make_operator, confirmed_payment, make_tier):
    class World:
        mitras = [online_mitra() for _ in range(6)]
        customer = make_customer()
        operator = make_operator()

        def attempt(self, customer=None):
            customer = customer or make_customer()
            return attempts.chat_start(customer=customer, payment_id=confirmed_payment(customer).id, sensitive=False)

        def active(self, mitra=None):
            attempt = self.attempt()
            return answers.chat_request_accept(mitra=mitra or self.mitras[0], chat_session_id=attempt.id)

    World.confirmed_payment = staticmethod(confirmed_payment)
    World.extension_tier = make_tier(kind=TierKind.EXTENSION, minutes=15, amount=25_000, name="15 menit")
    return World()


def test_a_customers_start_cancel_and_a_mitras_answers_lock_in_order(world):
    payment = world.confirmed_payment(world.customer)
    started = {}
    paths = {
        "payment": lambda: payment_services.payment_session_confirm(
            customer=world.customer,
            payment_id=payment_services.payment_session_create(customer=world.customer, tier_id=payment.tier_id).id,
        ),
        "chat start": lambda: started.setdefault("attempt", attempts.chat_start(customer=world.customer, payment_id=payment.id, sensitive=False)),
        "decline": lambda: answers.chat_request_decline(mitra=world.mitras[1], chat_session_id=started["attempt"].id),
        "accept": lambda: answers.chat_request_accept(mitra=world.mitras[2], chat_session_id=started["attempt"].id),
    }
    other = world.attempt()
    paths["cancel"] = lambda: attempts.chat_cancel(customer=other.customer, chat_session_id=other.id)

    for name, call in paths.items():
        assert order_violations(traced(call)) == [], name


def test_deadlines_the_backstop_and_the_session_end_lock_in_order(world):
    waiting = [world.attempt() for _ in range(3)]
    active = world.active()
    ChatSession.objects.filter(id__in=[a.id for a in waiting]).update(deadline_at=timezone.now() - timedelta(seconds=1))
    late = timezone.now() + timedelta(hours=2)

    assert order_violations(traced(lambda: attempts.chat_deadline_fire(chat_session_id=waiting[0].id))) == []
    assert order_violations(traced(lambda: deadlines.due_deadlines_fire())) == []
    assert order_violations(traced(lambda: deadlines.chat_timer_fire(chat_session_id=active.id, now=late))) == []
    assert order_violations(traced(lambda: lifecycle.chat_end(user=active.customer, chat_session_id=active.id, ended_by=EndedBy.CUSTOMER))) == []
    assert ChatSession.objects.filter(id__in=[a.id for a in waiting], status=ChatStatus.UNMATCHED).count() == 3


def test_returning_chat_and_late_joiners_lock_in_order(world, make_mitra):
    mitra = world.mitras[0]
    first = world.active(mitra)
    lifecycle.chat_end(user=first.customer, chat_session_id=first.id, ended_by=EndedBy.CUSTOMER)
    customer = first.customer
    payment = world.confirmed_payment(customer, targeted_mitra=mitra)
    outcome = {}

    assert order_violations(traced(lambda: outcome.setdefault("r", returning.chat_returning_start(
        customer=customer, payment_id=payment.id, mitra_id=mitra.id, sensitive=False)))) == []
    assert order_violations(traced(lambda: answers.chat_request_decline(mitra=mitra, chat_session_id=outcome["r"].session.id))) == []
    assert order_violations(traced(lambda: returning.chat_fallback_to_blast(customer=customer, chat_session_id=outcome["r"].session.id))) == []
    for _ in range(3):
        world.attempt()
    late_joiner = make_mitra()
    assert order_violations(traced(lambda: answers.mitra_status_set(mitra=late_joiner, status="online"))) == []


def test_messages_and_extensions_lock_in_order(world):
    session = world.active()
    extension_payment = payment_services.payment_session_confirm(
        customer=session.customer,
        payment_id=payment_services.payment_session_create(
            customer=session.customer, tier_id=world.extension_tier.id, is_extension=True, chat_session_id=session.id
        ).id,
    )
    extension = {}

    assert order_violations(traced(lambda: chat_services.message_send(
        user=session.customer, chat_session_id=session.id, client_message_id=str(uuid.uuid4()), text="halo"))) == []
    assert order_violations(traced(lambda: extension.setdefault("e", extension_services.extension_request(
        customer=session.customer, chat_session_id=session.id, payment_id=extension_payment.id)))) == []
    assert order_violations(traced(lambda: extension_services.extension_approve(mitra=session.mitra, extension_id=extension["e"].id))) == []


def test_blocks_suspensions_erasure_and_operator_actions_lock_in_order(world):
    blocked = world.attempt()
    suspended_customer_attempt = world.attempt()
    failed = world.attempt()
    attempts.chat_cancel(customer=failed.customer, chat_session_id=failed.id)
    PaymentSession.objects.filter(id=failed.payment_session_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    failure = PairingFailure.objects.get(chat_session=failed)

    assert order_violations(traced(lambda: safety_services.block_create(customer=blocked.customer, mitra_id=world.mitras[0].id))) == []
    assert order_violations(traced(lambda: safety_services.account_suspend(
        user_id=world.mitras[1].id, actor=world.operator, reason="test"))) == []
    assert order_violations(traced(lambda: safety_services.account_suspend(
        user_id=suspended_customer_attempt.customer_id, actor=world.operator, reason="test"))) == []
    assert order_violations(traced(lambda: privacy_services.account_erase(
        user_id=world.mitras[2].id, actor_id=world.operator.id, reason="test"))) == []
    assert order_violations(traced(lambda: payment_services.payments_sweep())) == []
    assert order_violations(traced(lambda: failed_pairing_services.failed_pairing_action(
        failure_id=failure.id, action=OperatorAction.CREDITED, actor=world.operator))) == []
    failure.refresh_from_db()
    assert failure.operator_action == OperatorAction.CREDITED
