"""Safety and trust (SPEC §12): crisis alerts, reports, blocks and ratings, each operator
decision kept in an append-only audit trail."""

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    """Raised by a crisis phrase; no operator has acted yet."""
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    """An operator has seen it and is on it."""
    CONTACTED = "contacted", "Contacted"
    """An operator reached out (to the mitra, or the customer through the app)."""
    ESCALATED = "escalated", "Escalated"
    """Handed to a professional or emergency service."""
    RESOLVED = "resolved", "Resolved"
    """Closed: nothing more to do."""


ALERT_ACTIONS = (AlertStatus.ACKNOWLEDGED, AlertStatus.CONTACTED, AlertStatus.ESCALATED, AlertStatus.RESOLVED)
UNRESOLVED_ALERT_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.CONTACTED, AlertStatus.ESCALATED)


class SafetyAlert(models.Model):
    """A crisis phrase in a customer's message: one row per session and phrase."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=models.Func(function="gen_random_uuid"), editable=False)
    chat_session = models.ForeignKey("pairing.ChatSession", on_delete=models.PROTECT, related_name="safety_alerts")
    message = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The first message that matched.",
    )
    phrase = models.CharField(max_length=100, help_text="The crisis phrase, as written in the crisis_phrases setting.")
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN, db_default=AlertStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "safety_alerts"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at"], name="idx_safety_alerts_created"),
            models.Index(fields=["created_at"], condition=Q(status=AlertStatus.OPEN), name="idx_safety_alerts_open"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["chat_session", "phrase"], name="safety_alerts_once_per_session_phrase"),
        ]

    def __str__(self) -> str:
        return f"alert {self.phrase!r} ({self.status})"


class SafetyAlertAction(models.Model):
    """Append-only audit trail of operator actions on alerts."""

    id = models.BigAutoField(primary_key=True)
    alert = models.ForeignKey(SafetyAlert, on_delete=models.PROTECT, related_name="actions")
    action = models.CharField(max_length=16, choices=AlertStatus.choices)
    note = models.TextField(blank=True, default="", db_default="")
    actor = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "safety_alert_actions"
        ordering = ["created_at", "id"]


class ReportReason(models.TextChoices):
    HARASSMENT = "harassment", "Pelecehan"
    INAPPROPRIATE = "inappropriate", "Tidak pantas"
    UNSAFE = "unsafe", "Tidak aman"
    SPAM = "spam", "Spam"
    OTHER = "other", "Lainnya"


class ReportStatus(models.TextChoices):
    OPEN = "open", "Open"
    DISMISSED = "dismissed", "Dismissed"
    """Looked at; nothing wrong."""
    WARNED = "warned", "Warned"
    """The reported person was warned."""
    SUSPENDED = "suspended", "Suspended"
    """The reported account was suspended."""


REPORT_ACTIONS = (ReportStatus.DISMISSED, ReportStatus.WARNED, ReportStatus.SUSPENDED)


class Report(models.Model):
    """One side of a session reporting the other. Each side reports a session once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=models.Func(function="gen_random_uuid"), editable=False)
    chat_session = models.ForeignKey("pairing.ChatSession", on_delete=models.PROTECT, related_name="reports")
    reporter = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="reports_made")
    reporter_role = models.CharField(max_length=16, help_text="customer or mitra")
    reported = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="reports_received")
    reason = models.CharField(max_length=16, choices=ReportReason.choices)
    text = models.CharField(max_length=1000, blank=True, default="", db_default="")
    status = models.CharField(max_length=16, choices=ReportStatus.choices, default=ReportStatus.OPEN, db_default=ReportStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "reports"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at"], name="idx_reports_created"),
            models.Index(fields=["reported", "-created_at"], name="idx_reports_reported"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["chat_session", "reporter"], name="reports_once_per_session_side"),
        ]


class ReportAction(models.Model):
    """Append-only audit trail of operator actions on reports."""

    id = models.BigAutoField(primary_key=True)
    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="actions")
    action = models.CharField(max_length=16, choices=ReportStatus.choices)
    note = models.TextField(blank=True, default="", db_default="")
    actor = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "report_actions"
        ordering = ["created_at", "id"]


class Block(models.Model):
    """A customer's block of a mitra: never offered this customer's requests again,
    until the customer unblocks (the row is deleted)."""

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="blocks")
    mitra = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="blocked_by")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "blocks"
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["customer", "mitra"], name="blocks_once")]
        indexes = [models.Index(fields=["mitra"], name="idx_blocks_mitra")]


class Rating(models.Model):
    """A customer's rating of a completed session: once per session."""

    chat_session = models.OneToOneField("pairing.ChatSession", on_delete=models.PROTECT, primary_key=True, related_name="rating")
    customer = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    mitra = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="ratings_received")
    stars = models.PositiveSmallIntegerField()
    comment = models.CharField(max_length=500, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "ratings"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["mitra", "-created_at"], name="idx_ratings_mitra")]
        constraints = [models.CheckConstraint(condition=Q(stars__gte=1, stars__lte=5), name="ratings_stars_1_to_5")]
