from django.db import models
from django.db.models.functions import Now


class PushOutbox(models.Model):
    """Every push the recording backend "sent": recipient, title, body, data.
    Development and tests use it instead of FCM; tests assert on it."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField()
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "push_outbox"
        ordering = ["id"]
