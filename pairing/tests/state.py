"""The pairing and money state a refusal must leave exactly as it was."""

from __future__ import annotations

from accounts.models import MitraProfile
from failed_pairings.models import PairingFailure
from pairing.models import ChatRequestNotification, ChatSession
from payments.models import PaymentEvent, PaymentSession, Transaction
from realtime.models import PushOutbox


def pairing_state() -> dict:
    """Every row a pairing command may write, with the columns it may change."""
    return {
        "sessions": sorted(
            ChatSession.objects.values_list(
                "id", "status", "mitra_id", "started_at", "ends_at", "deadline_at", "failure_cause", "ended_by"
            )
        ),
        "offers": sorted(ChatRequestNotification.objects.values_list("chat_session_id", "mitra_id", "status", "responded_at")),
        "payments": sorted(PaymentSession.objects.values_list("id", "status", "chat_session_id", "updated_at")),
        "payment_events": sorted(PaymentEvent.objects.values_list("id", flat=True)),
        "transactions": sorted(Transaction.objects.values_list("id", flat=True)),
        "failures": sorted(PairingFailure.objects.values_list("id", flat=True)),
        "pushes": sorted(PushOutbox.objects.values_list("id", flat=True)),
        "mitras": sorted(MitraProfile.objects.values_list("user_id", "status", "status_changed_at")),
    }
