import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class ChatStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    """A pairing attempt: offered to mitras, nobody has accepted yet; ``deadline_at`` is its timeout."""
    ACTIVE = "active", "Active"
    """A mitra accepted; the session runs until ``ends_at``."""
    CLOSING = "closing", "Closing"
    """Time is up; each side may send one goodbye until ``closes_at``."""
    COMPLETED = "completed", "Completed"
    """Ended (by the timer, the customer, the mitra or an operator; see ``ended_by``)."""
    CANCELLED = "cancelled", "Cancelled"
    """The customer cancelled while it was waiting."""
    UNMATCHED = "unmatched", "Unmatched"
    """Nobody accepted (timeout, everybody declined, nobody available, or the targeted mitra could not)."""


OCCUPYING_STATUSES = (ChatStatus.ACTIVE, ChatStatus.CLOSING)
"""Sessions that take one of a mitra's capacity slots."""
LIVE_STATUSES = (ChatStatus.WAITING, *OCCUPYING_STATUSES)
"""Sessions still running or searching: a payment behind one is in use, and an account
with one cannot be erased (SPEC §13)."""


class RequestType(models.TextChoices):
    GENERAL = "general", "General"
    """Blasted to every available mitra; first accept wins."""
    RETURNING = "returning", "Returning"
    """"Curhat lagi": offered to one targeted mitra only."""


class EndedBy(models.TextChoices):
    TIMER = "timer", "Timer"
    CUSTOMER = "customer", "Customer"
    MITRA = "mitra", "Mitra"
    OPERATOR = "operator", "Operator"


class ChatSession(models.Model):
    """A pairing attempt that becomes the chat session once a mitra accepts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=models.Func(function="gen_random_uuid"), editable=False)
    customer = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="customer_sessions")
    mitra = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="mitra_sessions")
    targeted_mitra = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payment_session = models.ForeignKey("payments.PaymentSession", on_delete=models.PROTECT, related_name="chat_sessions")
    request_type = models.CharField(max_length=16, choices=RequestType.choices, default=RequestType.GENERAL, db_default=RequestType.GENERAL)
    sensitive = models.BooleanField(default=False, db_default=False)
    status = models.CharField(max_length=16, choices=ChatStatus.choices, default=ChatStatus.WAITING, db_default=ChatStatus.WAITING)
    duration_minutes = models.PositiveIntegerField()
    deadline_at = models.DateTimeField(null=True, blank=True, help_text="While waiting: when the attempt times out.")
    started_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    closing_started_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=16, choices=EndedBy.choices, blank=True, default="", db_default="")
    ended_by_user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Who ended it early (customer, mitra or operator); empty when the timer did.",
    )
    failure_cause = models.CharField(max_length=32, blank=True, default="", db_default="")
    # a general blast started from an unmatched returning attempt ("Chat dengan bestie lain")
    fallback_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="fallback",
        help_text="The returning attempt this blast falls back from; one fallback per attempt.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "chat_sessions"
        verbose_name = "sesi"
        verbose_name_plural = "Sesi"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["mitra", "status"], name="idx_chat_sessions_mitra_status"),
            models.Index(fields=["customer", "status"], name="idx_chat_sessions_customer"),
            models.Index(fields=["deadline_at"], condition=Q(status=ChatStatus.WAITING), name="idx_chat_sessions_waiting_due"),
            models.Index(fields=["ends_at"], condition=Q(status=ChatStatus.ACTIVE), name="idx_chat_sessions_active_due"),
            models.Index(fields=["closes_at"], condition=Q(status=ChatStatus.CLOSING), name="idx_chat_sessions_closing_due"),
        ]
        constraints = [
            # one live attempt or session per payment
            models.UniqueConstraint(
                fields=["payment_session"], condition=Q(status__in=[*LIVE_STATUSES]),
                name="chat_sessions_one_live_per_payment",
            ),
            # a payment is consumed by exactly one session
            models.UniqueConstraint(
                fields=["payment_session"], condition=Q(status__in=[*OCCUPYING_STATUSES, ChatStatus.COMPLETED]),
                name="chat_sessions_one_session_per_payment",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[ChatStatus.WAITING, ChatStatus.CANCELLED, ChatStatus.UNMATCHED]) | Q(mitra__isnull=False, started_at__isnull=False, ends_at__isnull=False),
                name="chat_sessions_matched_has_mitra",
            ),
        ]

    def __str__(self) -> str:
        return f"chat {self.id} ({self.status})"


class NotificationStatus(models.TextChoices):
    OFFERED = "offered", "Offered"
    """The mitra was offered the request and has not answered."""
    ACCEPTED = "accepted", "Accepted"
    """This mitra won the request."""
    DECLINED = "declined", "Declined"
    """The mitra declined."""
    CLOSED = "closed", "Closed"
    """The request ended without this mitra (accepted elsewhere, cancelled, timed out)."""


class ChatRequestNotification(models.Model):
    """One mitra's offer of one pairing attempt."""

    id = models.BigAutoField(primary_key=True)
    chat_session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="notifications")
    mitra = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="chat_request_notifications")
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.OFFERED, db_default=NotificationStatus.OFFERED)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "chat_request_notifications"
        constraints = [models.UniqueConstraint(fields=["chat_session", "mitra"], name="chat_request_notifications_once")]
        indexes = [models.Index(fields=["mitra", "status"], name="idx_chat_requests_mitra_status")]
