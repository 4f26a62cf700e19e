from django.db import models
from django.db.models.functions import Now


class IdempotencyRecord(models.Model):
    """The first response to a (user, Idempotency-Key); replays get it back. Kept ≥ 24 h."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        # the table payments created (payments/migrations/0002); moved here in state only
        db_table = "idempotency_keys"
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_keys_user_key_unique")]
        indexes = [models.Index(fields=["created_at"], name="idx_idempotency_keys_created")]
