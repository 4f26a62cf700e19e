import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class ExtensionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    """Waiting for the mitra's answer until ``deadline_at``."""
    APPROVED = "approved", "Approved"
    """The mitra approved: ``ends_at`` moved, the payment consumed and charged."""
    AUTO_APPROVED = "auto_approved", "Auto-approved"
    """No answer while the mitra was online and connected, and the default was auto-approve."""
    REJECTED = "rejected", "Rejected"
    """The mitra declined, or no answer with the default auto-reject. Never charged."""
    SAFEGUARD_REJECTED = "safeguard_rejected", "Safeguard rejected"
    """No answer while the mitra was offline or had no live socket. Never charged."""


APPROVED_STATUSES = (ExtensionStatus.APPROVED, ExtensionStatus.AUTO_APPROVED)


class AuditTag(models.TextChoices):
    APPROVED = "extension_approved", "Extension approved"
    REJECTED = "extension_rejected", "Extension rejected"
    AUTO_APPROVED = "extension_auto_approved", "Extension auto-approved"
    SAFEGUARD_TRIPPED = "extension_safeguard_tripped", "Extension safeguard tripped"


class Extension(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=models.Func(function="gen_random_uuid"), editable=False)
    chat_session = models.ForeignKey("pairing.ChatSession", on_delete=models.PROTECT, related_name="extensions")
    payment_session = models.OneToOneField("payments.PaymentSession", on_delete=models.PROTECT, related_name="extension")
    minutes = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=ExtensionStatus.choices, default=ExtensionStatus.PENDING, db_default=ExtensionStatus.PENDING)
    timeout_seconds = models.PositiveIntegerField()
    default_action = models.CharField(max_length=16, help_text="extension_default_action_on_timeout when it was requested")
    deadline_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "extensions"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["chat_session"], condition=Q(status=ExtensionStatus.PENDING), name="extensions_one_pending_per_session"),
        ]
        indexes = [models.Index(fields=["deadline_at"], condition=Q(status=ExtensionStatus.PENDING), name="idx_extensions_pending_due")]


class ExtensionAudit(models.Model):
    """The one outcome of an extension, with its SPEC §6 tag and who decided it
    (null: the server's timer)."""

    id = models.BigAutoField(primary_key=True)
    extension = models.OneToOneField(Extension, on_delete=models.PROTECT, related_name="audit")
    tag = models.CharField(max_length=32, choices=AuditTag.choices)
    actor = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    mitra_online = models.BooleanField(null=True)
    mitra_connected = models.BooleanField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "extension_audit"
