"""How a chat session / chat request looks to each side — one definition for the
REST responses and the websocket events, so the two never drift apart.

Anonymity: the mitra-side shapes carry ``customer: {"call_name"}`` and nothing else
about the customer (no ids, phone, email, payment).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def iso_datetime(value) -> str | None:
    """A datetime exactly as the REST responses render it (DRF's ISO 8601)."""
    return serializers.DateTimeField().to_representation(value) if value is not None else None


class MitraBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    display_name = serializers.CharField()


class CustomerBriefSerializer(serializers.Serializer):
    call_name = serializers.CharField()


def mitra_brief(user_id, display_name: str) -> dict:
    """How a mitra is shown to a customer: an id and the display name, nothing else."""
    return {"id": str(user_id), "display_name": display_name}


def targeted_unavailable_payload(chat_session_id, *, cause: str, mitra_id, display_name: str) -> dict:
    """The ``targeted_unavailable`` event: a returning chat's mitra could not take it."""
    return {
        "type": "targeted_unavailable",
        "chat_session_id": str(chat_session_id) if chat_session_id else None,
        "cause": cause,
        "mitra": mitra_brief(mitra_id, display_name),
    }


class _SessionSerializer(serializers.Serializer):
    """What both sides see of a session. Needs ``mitra__mitra_profile`` loaded."""

    id = serializers.UUIDField()
    status = serializers.CharField()
    request_type = serializers.CharField()
    sensitive = serializers.BooleanField()
    mitra = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)
    closes_at = serializers.DateTimeField(allow_null=True)
    ended_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(MitraBriefSerializer(allow_null=True))
    def get_mitra(self, session) -> dict | None:
        if session.mitra is None:
            return None
        return mitra_brief(session.mitra_id, session.mitra.mitra_profile.display_name)

    def get_ended_by(self, session) -> str | None:
        return session.ended_by or None


class ChatSessionSerializer(_SessionSerializer):
    """A chat session as its customer sees it."""

    payment_session_id = serializers.UUIDField()


class MitraChatSessionSerializer(_SessionSerializer):
    """A chat session as its mitra sees it: the customer is a call name only (no
    ids, contact details or payment). Also needs ``customer__customer_profile``."""

    customer = serializers.SerializerMethodField()

    @extend_schema_field(CustomerBriefSerializer)
    def get_customer(self, session) -> dict:
        return {"call_name": session.customer.customer_profile.call_name}


class ChatRequestSerializer(serializers.Serializer):
    """A request offered to a mitra. ``request_id`` is the chat session id.
    Needs ``customer__customer_profile`` loaded."""

    request_id = serializers.UUIDField(source="id")
    request_type = serializers.CharField()
    customer = serializers.SerializerMethodField()
    sensitive = serializers.BooleanField()
    timeout_seconds = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(source="deadline_at", allow_null=True)
    created_at = serializers.DateTimeField()

    @extend_schema_field(CustomerBriefSerializer)
    def get_customer(self, session) -> dict:
        return {"call_name": session.customer.customer_profile.call_name}

    def get_timeout_seconds(self, session) -> int | None:
        """Set for returning requests only (the targeted mitra's window)."""
        if session.request_type != "returning" or session.deadline_at is None:
            return None
        return round((session.deadline_at - session.created_at).total_seconds())


def chat_session_for_customer(session) -> dict:
    return dict(ChatSessionSerializer(session).data)


def chat_session_for_mitra(session) -> dict:
    return dict(MitraChatSessionSerializer(session).data)


def chat_request_for_mitra(session) -> dict:
    return dict(ChatRequestSerializer(session).data)
