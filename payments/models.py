import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class TierKind(models.TextChoices):
    SESSION = "session", "Session"
    """Offered on the session picker (with the free trial, when eligible)."""
    EXTENSION = "extension", "Extension"
    """Offered on the extension picker only; never a free trial."""


class PricingTier(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=models.Func(function="gen_random_uuid"), editable=False)
    name = models.CharField(max_length=64)
    amount = models.PositiveIntegerField(help_text="IDR")
    duration_minutes = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=TierKind.choices)
    is_active = models.BooleanField(default=True, db_default=True)
    order = models.PositiveIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "pricing_tiers"
        ordering = ["kind", "order", "amount"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="pricing_tiers_kind_name_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(duration_minutes__gt=0), name="pricing_tiers_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    """Created; waiting for the provider to confirm the payment."""
    CONFIRMED = "confirmed", "Confirmed"
    """Paid (session payments are charged now); usable for a chat or an extension until it expires."""
    CONSUMED = "consumed", "Consumed"
    """Used: a chat started on it or the extension it paid for was approved. Final."""
    ABANDONED = "abandoned", "Abandoned"
    """The customer backed out before paying. Final."""
    EXPIRED = "expired", "Expired"
    """The sweeper found it past ``expires_at`` with no live attempt. Final."""
    FAILED_PAIRING = "failed_pairing", "Failed pairing"
    """A blast on it failed or the customer cancelled mid-search; refundable by an operator. Final."""
    RELEASED = "released", "Released"
    """An extension payment whose extension was rejected; never charged. Final."""


class PaymentSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=models.Func(function="gen_random_uuid"), editable=False)
    customer = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="payment_sessions")
    tier = models.ForeignKey(PricingTier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount = models.PositiveIntegerField(help_text="IDR")
    duration_minutes = models.PositiveIntegerField()
    is_free_trial = models.BooleanField(default=False, db_default=False)
    is_extension = models.BooleanField(default=False, db_default=False)
    targeted_mitra = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # extension payments: the session they extend; session payments: the newest attempt made on them
    chat_session = models.ForeignKey("pairing.ChatSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING, db_default=PaymentStatus.PENDING)
    provider = models.CharField(max_length=32, default="instant", db_default="instant")
    provider_reference = models.CharField(max_length=128, blank=True, default="", db_default="")
    # a gateway's payment page (Midtrans Snap, SPEC §11): set after the commit that made the row
    snap_token = models.CharField(max_length=255, blank=True, default="", db_default="")
    redirect_url = models.CharField(max_length=1024, blank=True, default="", db_default="")
    provider_error = models.CharField(
        max_length=500, blank=True, default="", db_default="",
        help_text="The gateway's last refusal or failure while opening the payment page; cleared once it is open.",
    )
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        db_table = "payment_sessions"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="idx_payment_sessions_sweep"),
            models.Index(fields=["customer", "-created_at"], name="idx_payment_sessions_customer"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(is_free_trial=False) | Q(amount=0, is_extension=False), name="payment_sessions_free_trial_is_free"),
            models.CheckConstraint(condition=Q(is_free_trial=True) | Q(amount__gt=0), name="payment_sessions_paid_amount_positive"),
            models.CheckConstraint(condition=Q(is_extension=False) | Q(chat_session__isnull=False), name="payment_sessions_extension_has_session"),
            # one free trial per customer, ever (a pending or confirmed one counts until it ends)
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_free_trial=True, status__in=[PaymentStatus.PENDING, PaymentStatus.CONFIRMED, PaymentStatus.CONSUMED]),
                name="payment_sessions_one_free_trial",
            ),
        ]

    def __str__(self) -> str:
        return f"payment {self.id} ({self.status})"


class TransactionKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    """Money taken from the customer: session payments at confirm, extensions at approval."""
    REFUND = "refund", "Refund"
    """Money the payment gateway gave back (SPEC §11)."""


class Transaction(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=models.Func(function="gen_random_uuid"), editable=False)
    payment_session = models.ForeignKey(PaymentSession, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=16, choices=TransactionKind.choices)
    amount = models.PositiveIntegerField(help_text="IDR")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "transactions"
        constraints = [
            # nothing is charged twice
            models.UniqueConstraint(fields=["payment_session"], condition=Q(kind="charge"), name="transactions_one_charge_per_payment"),
            # never two refunds for one payment
            models.UniqueConstraint(fields=["payment_session"], condition=Q(kind="refund"), name="transactions_one_refund_per_payment"),
        ]


class PaymentEvent(models.Model):
    """Append-only log of every payment state change: from, to, why, who."""

    id = models.BigAutoField(primary_key=True)
    payment_session = models.ForeignKey(PaymentSession, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16)
    reason = models.CharField(max_length=64)
    actor = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # a gateway notification (SPEC §11): stored once per (transaction, status), so a
    # notification the gateway sends again changes nothing
    gateway_transaction_id = models.CharField(max_length=128, blank=True, default="", db_default="")
    gateway_status = models.CharField(max_length=32, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "payment_events"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_transaction_id", "gateway_status"], condition=~Q(gateway_transaction_id=""),
                name="payment_events_one_per_gateway_notification",
            ),
        ]
