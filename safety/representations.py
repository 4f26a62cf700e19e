"""How safety objects look to each audience — one definition for REST and websocket.

Anonymity (SPEC §1): what a mitra gets — their own report's answer, the rating summary,
``safety_protocol`` — names no customer (no id, phone, email, call name even).
Operators get the rest (``/internal/``, the control center, ``safety_alert``).
"""

from __future__ import annotations

from rest_framework import serializers


class AlertActionSerializer(serializers.Serializer):
    action = serializers.CharField()
    note = serializers.CharField()
    actor = serializers.CharField(source="actor.__str__")
    created_at = serializers.DateTimeField()


class SafetyAlertSerializer(serializers.Serializer):
    """An alert for operators. Needs ``actions__actor`` prefetched."""

    id = serializers.UUIDField()
    chat_session_id = serializers.UUIDField()
    phrase = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    actions = AlertActionSerializer(many=True)


class ReportSerializer(serializers.Serializer):
    """A report as its author sees it (API.md): no one else's identity."""

    id = serializers.UUIDField()
    reason = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReportActionSerializer(AlertActionSerializer):
    pass


class OperatorReportSerializer(ReportSerializer):
    """A report for operators: who reported whom, in which session, and what was done.
    Needs ``reporter``, ``reported`` and ``actions__actor`` loaded."""

    chat_session_id = serializers.UUIDField()
    reporter_role = serializers.CharField()
    reporter_id = serializers.UUIDField()
    reported_id = serializers.UUIDField()
    reporter = serializers.CharField(source="reporter.__str__")
    reported = serializers.CharField(source="reported.__str__")
    text = serializers.CharField()
    updated_at = serializers.DateTimeField()
    actions = ReportActionSerializer(many=True)


class RatingSerializer(serializers.Serializer):
    stars = serializers.IntegerField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class ResourceSerializer(serializers.Serializer):
    name = serializers.CharField()
    contact = serializers.CharField()
    url = serializers.CharField()
    hours = serializers.CharField()


def alert_payload(alert) -> dict:
    return dict(SafetyAlertSerializer(alert).data)


def report_payload(report) -> dict:
    return dict(ReportSerializer(report).data)


def rating_payload(rating) -> dict:
    return dict(RatingSerializer(rating).data)
