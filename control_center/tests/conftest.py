"""Fixtures of the control-center tests: a logged-in operator, an active session matched
through the API, and sessions with messages, alerts, reports and ratings made through
the domain services."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.test import Client
from django.utils import timezone

from chat.models import Message
from chat.services import message_send
from pairing.models import ChatSession, ChatStatus
from payments.models import PaymentSession, PaymentStatus

_client_ids = itertools.count(1)
MESSAGES_FROM = datetime(2026, 11, 20, 9, 0, tzinfo=dt_timezone.utc)


@pytest.fixture
def operator(make_operator):
    return make_operator()


@pytest.fixture
def cc(operator):
    """The control center in a browser-like client, logged in as ``operator``."""
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def active_session(make_customer, active_chat):
    """An active session of "Ayu" with an online mitra "Bestie Sekar", paid, started and
    accepted through the API (the root conftest's ``active_chat``)."""
    return active_chat(make_customer(call_name="Ayu")).session


@pytest.fixture
def chat(make_customer, make_mitra, confirmed_payment):
    """``chat(customer=, mitra=, lines=[("customer"|"mitra", text), ...], status=)`` → a
    session of the two (a new customer "Ayu" and mitra "Bestie Sekar" when not given),
    paid and running as a matched session runs, with ``lines`` sent through
    ``chat.services.message_send`` a minute apart from ``MESSAGES_FROM`` (``.sent``:
    the messages in order); then moved to ``status`` (completed: ended now)."""

    def make(*, customer=None, mitra=None, lines=(), status=ChatStatus.ACTIVE):
        customer = customer or make_customer(call_name="Ayu")
        mitra = mitra or make_mitra(display_name="Bestie Sekar")
        payment = confirmed_payment(customer)
        now = timezone.now()
        session = ChatSession.objects.create(
            customer=customer, mitra=mitra, payment_session=payment, status=ChatStatus.ACTIVE, duration_minutes=30,
            started_at=now, ends_at=now + timedelta(minutes=30),
        )
        PaymentSession.objects.filter(pk=payment.pk).update(status=PaymentStatus.CONSUMED)
        sent = []
        for index, (side, text) in enumerate(lines):
            message, _ = message_send(
                user=customer if side == "customer" else mitra, chat_session_id=session.id,
                client_message_id=f"m-{next(_client_ids)}", text=text,
            )
            # one test is one transaction, whose now() never moves: give each its own minute
            Message.objects.filter(pk=message.pk).update(created_at=MESSAGES_FROM + timedelta(minutes=index))
            sent.append(Message.objects.get(pk=message.pk))
        if status == ChatStatus.COMPLETED:
            ChatSession.objects.filter(pk=session.pk).update(status=status, ended_at=timezone.now())
        elif status != ChatStatus.ACTIVE:
            ChatSession.objects.filter(pk=session.pk).update(status=status)
        session.refresh_from_db()
        session.sent = sent
        return session

    return make


@pytest.fixture
def raise_alert():
    """``raise_alert(session, phrases, message=None, created_at=None)`` → the new alerts,
    raised as a crisis match raises them (on the session's last customer message)."""
    from safety.crisis import crisis_alerts_raise
    from safety.models import SafetyAlert

    def make(session, phrases, *, message=None, created_at=None):
        if message is None:
            customer_lines = [m for m in getattr(session, "sent", []) if m.sender == "customer"]
            message = customer_lines[-1] if customer_lines else None
        alerts = crisis_alerts_raise(chat_session_id=session.id, message_id=getattr(message, "id", None), phrases=list(phrases))
        if created_at is not None:
            SafetyAlert.objects.filter(id__in=[a.id for a in alerts]).update(created_at=created_at)
        return alerts

    return make
