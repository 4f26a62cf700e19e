"""URLs of the extension endpoints, the rows a refusal must leave as they were, and
the deadlines a test moves into the past (instead of waiting for them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from extensions.models import Extension, ExtensionAudit
from pairing.models import ChatSession
from payments.models import PaymentEvent, PaymentSession, Transaction
from realtime.models import PushOutbox

START = "/api/client/chat/start"
PAYMENTS = "/api/client/payment-sessions"
EXTENSION_MINUTES = 15
EXTENSION_AMOUNT = 25_000


def extensions_url(chat_session_id) -> str:
    return f"/api/client/chat/{chat_session_id}/extensions"


def approve_url(extension_id) -> str:
    return f"/api/mitra/extensions/{extension_id}/approve"


def decline_url(extension_id) -> str:
    return f"/api/mitra/extensions/{extension_id}/decline"


def extension_state() -> dict:
    """Every row an extension command may write, with the columns it may change."""
    return {
        "extensions": sorted(Extension.objects.values_list("id", "status", "resolved_at", "deadline_at")),
        "audits": sorted(ExtensionAudit.objects.values_list("id", "extension_id", "tag")),
        "sessions": sorted(ChatSession.objects.values_list("id", "status", "ends_at", "closes_at", "ended_by")),
        "payments": sorted(PaymentSession.objects.values_list("id", "status", "updated_at")),
        "payment_events": sorted(PaymentEvent.objects.values_list("id", flat=True)),
        "transactions": sorted(Transaction.objects.values_list("id", "payment_session_id", "amount")),
        "pushes": sorted(PushOutbox.objects.values_list("id", flat=True)),
    }


def deadline_passed(extension_id, *, seconds: float = 1) -> None:
    """The mitra's window is over: ``deadline_at`` moved ``seconds`` into the past."""
    Extension.objects.filter(id=extension_id).update(deadline_at=timezone.now() - timedelta(seconds=seconds))


def ends_at_passed(chat_session_id, *, seconds: float = 1) -> None:
    ChatSession.objects.filter(id=chat_session_id).update(ends_at=timezone.now() - timedelta(seconds=seconds))


@dataclass
class Live:
    """An active session and both sides' API clients."""

    id: str
    customer: object
    mitra: object
    customer_client: object
    mitra_client: object

    @property
    def session(self) -> ChatSession:
        return ChatSession.objects.get(id=self.id)
