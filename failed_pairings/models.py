import uuid

from django.db import models
from django.db.models.functions import Now


class CauseTag(models.TextChoices):
    NO_MITRA_AVAILABLE = "no_mitra_available", "No mitra available"
    ALL_MITRAS_REJECTED = "all_mitras_rejected", "All mitras rejected"
    CUSTOMER_CANCELLED = "customer_cancelled", "Customer cancelled"
    TARGETED_MITRA_OFFLINE = "targeted_mitra_offline", "Targeted mitra offline"
    TARGETED_MITRA_AT_CAPACITY = "targeted_mitra_at_capacity", "Targeted mitra at capacity"
    TARGETED_MITRA_REJECTED = "targeted_mitra_rejected", "Targeted mitra rejected"
    TARGETED_MITRA_TIMEOUT = "targeted_mitra_timeout", "Targeted mitra timeout"
    PAYMENT_EXPIRED_UNUSED = "payment_expired_unused", "Payment expired unused"
    PAYMENT_SETTLED_AFTER_EXPIRY = "payment_settled_after_expiry", "Payment settled after expiry"
    EXTENSION_UNUSED = "extension_unused", "Extension unused, refund refused"
    ACCOUNT_SUSPENDED = "account_suspended", "Customer suspended while searching"
    CUSTOMER_BLOCKED_MITRA = "customer_blocked_mitra", "Customer blocked the targeted mitra"


class OperatorAction(models.TextChoices):
    REFUNDED = "refunded", "Refunded"
    """Money returned to the customer (a money action)."""
    CREDITED = "credited", "Credited"
    """A session credit given instead (a money action)."""
    NO_ACTION = "no_action", "No action"
    """Looked at; nothing owed (e.g. the fallback blast succeeded)."""
    REFUND_PENDING = "refund_pending", "Refund pending"
    """``refunded`` asked of the payment gateway, which has not answered yet (SPEC §11)."""
    REFUND_REFUSED = "refund_refused", "Refund refused"
    """Only in the audit trail: the gateway refused; the row is open again (``refund_error``)."""


# what an operator chooses; the other two are the gateway's part of a refund
OPERATOR_CHOICES = (OperatorAction.REFUNDED, OperatorAction.CREDITED, OperatorAction.NO_ACTION)
MONEY_ACTIONS = (OperatorAction.REFUNDED, OperatorAction.CREDITED, OperatorAction.REFUND_PENDING)


class PairingFailure(models.Model):
    """A paid attempt that did not become a session, for operators to action."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=models.Func(function="gen_random_uuid"), editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    customer = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="pairing_failures")
    targeted_mitra = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    cause_tag = models.CharField(max_length=32, choices=CauseTag.choices)
    amount = models.PositiveIntegerField(help_text="IDR")
    payment_session = models.ForeignKey("payments.PaymentSession", on_delete=models.PROTECT, related_name="pairing_failures")
    chat_session = models.ForeignKey("pairing.ChatSession", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    operator_action = models.CharField(max_length=16, choices=OperatorAction.choices, blank=True, default="", db_default="")
    actioned_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actioned_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, default="", db_default="")
    refund_error = models.CharField(
        max_length=500, blank=True, default="", db_default="",
        help_text="The payment gateway's refusal of the last refund; the operator may credit instead.",
    )

    class Meta:
        db_table = "pairing_failures"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at"], name="idx_pairing_failures_created"),
            models.Index(fields=["cause_tag", "-created_at"], name="idx_pairing_failures_cause"),
        ]
        constraints = [
            # one failure row per attempt and cause (a replayed handler cannot write it twice)
            models.UniqueConstraint(fields=["chat_session", "cause_tag"], name="pairing_failures_once_per_attempt"),
            # the sweeper's row: once per payment
            models.UniqueConstraint(
                fields=["payment_session"], condition=models.Q(cause_tag=CauseTag.PAYMENT_EXPIRED_UNUSED),
                name="pairing_failures_expired_once",
            ),
            # money the gateway took after the payment had ended (SPEC §11): once per payment
            models.UniqueConstraint(
                fields=["payment_session"], condition=models.Q(cause_tag=CauseTag.PAYMENT_SETTLED_AFTER_EXPIRY),
                name="pairing_failures_settled_late_once",
            ),
            # an unused extension payment the gateway would not refund by itself: once per payment
            models.UniqueConstraint(
                fields=["payment_session"], condition=models.Q(cause_tag=CauseTag.EXTENSION_UNUSED),
                name="pairing_failures_extension_unused_once",
            ),
            # at most one money action per payment, whatever the number of its failure rows
            models.UniqueConstraint(
                fields=["payment_session"], condition=models.Q(operator_action__in=[*MONEY_ACTIONS]),
                name="pairing_failures_one_money_action_per_payment",
            ),
        ]


class PairingFailureAction(models.Model):
    """Append-only audit trail of operator actions on failure rows."""

    id = models.BigAutoField(primary_key=True)
    failure = models.ForeignKey(PairingFailure, on_delete=models.PROTECT, related_name="actions")
    action = models.CharField(max_length=16, choices=OperatorAction.choices)
    note = models.TextField(blank=True, default="", db_default="")
    actor = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    payment_status = models.CharField(max_length=16, help_text="The payment's status when the action was taken.")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "pairing_failure_actions"
        ordering = ["-created_at", "-id"]
