"""SPEC §6's outcome table as data, and the assertions every row shares: the one
outcome with its money, audit and ``extension_resolved`` event. Used by the
in-process tests (test_outcomes.py) and the real-worker ones (test_e2e_worker.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from extensions.models import Extension, ExtensionAudit
from extensions.services import extension_deadline_fire
from extensions.tests.state import EXTENSION_AMOUNT, EXTENSION_MINUTES, deadline_passed
from pairing.models import ChatSession
from pairing.representations import iso_datetime
from pairing.deadlines import due_deadlines_fire
from payments.models import PaymentEvent, PaymentSession, Transaction

PING = {"type": "ping"}


@dataclass(frozen=True)
class Row:
    default: str  # extension_default_action_on_timeout when requested
    mitra: str  # "connected" (open socket that pinged) | "never_connected" | "socket_closed" | "heartbeat_stale"
    answer: str | None  # "approve" | "decline" | None (no answer: the timer decides)
    status: str
    tag: str
    offline: bool = False  # the mitra toggled offline (mid-session, before the request)
    fire: str = "task"  # how the timeout fires: the task's service, or the beat backstop


ROWS = {
    "mitra approves": Row("auto_reject", "connected", "approve", "approved", "extension_approved"),
    "mitra declines": Row("auto_approve", "connected", "decline", "rejected", "extension_rejected"),
    "no answer, online and connected, auto_approve": Row("auto_approve", "connected", None, "auto_approved", "extension_auto_approved"),
    "no answer, online and connected, auto_approve, backstop": Row(
        "auto_approve", "connected", None, "auto_approved", "extension_auto_approved", fire="backstop"
    ),
    "no answer, online and connected, auto_reject": Row("auto_reject", "connected", None, "rejected", "extension_rejected"),
    "no answer, offline (socket still open), auto_approve": Row(
        "auto_approve", "connected", None, "safeguard_rejected", "extension_safeguard_tripped", offline=True
    ),
    "no answer, offline, auto_reject, backstop": Row(
        "auto_reject", "connected", None, "safeguard_rejected", "extension_safeguard_tripped", offline=True, fire="backstop"
    ),
    "no answer, online, never connected": Row("auto_approve", "never_connected", None, "safeguard_rejected", "extension_safeguard_tripped"),
    "no answer, online, socket closed (force-quit)": Row(
        "auto_approve", "socket_closed", None, "safeguard_rejected", "extension_safeguard_tripped"
    ),
    "no answer, online, socket open but heartbeat older than 30 s": Row(
        "auto_approve", "heartbeat_stale", None, "safeguard_rejected", "extension_safeguard_tripped"
    ),
}


def heartbeat_aged(user_id, *, seconds: float) -> None:
    """Every socket of ``user_id`` last beat ``seconds`` ago (a socket the app stopped
    pinging: the OS killed it without a close frame)."""
    from config.redis_client import get_redis
    from realtime.presence import _key

    client = get_redis()
    key = _key(user_id)
    members = client.zrange(key, 0, -1)
    assert members, "no socket to age"
    client.zadd(key, {member: time.time() - seconds for member in members})


async def ping(socket) -> None:
    await socket.send_json_to(PING)
    assert await socket.receive_json_from(timeout=10) == {"type": "pong"}


def fire_timeout(extension_id, how: str) -> int | bool:
    deadline_passed(extension_id)
    if how == "backstop":
        return due_deadlines_fire()
    return extension_deadline_fire(extension_id=extension_id)


def assert_resolved_once(extension_id, *, status: str, tag: str, ends_before, actor_id=None) -> ChatSession:
    """The one outcome, with its money: charged exactly once iff approved."""
    extension = Extension.objects.get(id=extension_id)
    session = ChatSession.objects.get(id=extension.chat_session_id)
    payment = PaymentSession.objects.get(id=extension.payment_session_id)
    approved = status in ("approved", "auto_approved")
    assert extension.status == status
    assert extension.resolved_at is not None
    assert list(ExtensionAudit.objects.filter(extension_id=extension_id).values_list("tag", "actor_id")) == [(tag, actor_id)]
    assert session.ends_at == ends_before + (timedelta(minutes=EXTENSION_MINUTES) if approved else timedelta(0))
    charges = list(Transaction.objects.filter(payment_session=payment).values_list("kind", "amount"))
    if approved:
        assert payment.status == "consumed"
        assert charges == [("charge", EXTENSION_AMOUNT)]
    else:
        assert payment.status == "released"
        assert charges == []
    assert list(PaymentEvent.objects.filter(payment_session=payment).values_list("from_status", "to_status", "reason")) == [
        ("", "pending", "created"),
        ("pending", "confirmed", "confirmed"),
        ("confirmed", "consumed" if approved else "released", tag),
    ]
    return session


def resolved_event(extension_id, status: str, session: ChatSession) -> dict:
    return {"type": "extension_resolved", "extension_id": str(extension_id), "status": status, "ends_at": iso_datetime(session.ends_at)}
