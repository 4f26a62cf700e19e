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
