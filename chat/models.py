import uuid

from django.db import models
from django.db.models.functions import Now


class SenderRole(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    MITRA = "mitra", "Mitra"


class Message(models.Model):
    """One text message of a chat session. ``client_message_id`` makes sending idempotent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=models.Func(function="gen_random_uuid"), editable=False)
    chat_session = models.ForeignKey("pairing.ChatSession", on_delete=models.CASCADE, related_name="messages")
    sender = models.CharField(max_length=16, choices=SenderRole.choices)
    sender_user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    client_message_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the retention purge erased the text (SPEC §13); the message itself stays.",
    )

    class Meta:
        db_table = "chat_messages"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["chat_session", "created_at", "id"], name="idx_chat_messages_session"),
            # the retention purge's next batch: the oldest texts still kept
            models.Index(fields=["created_at"], condition=models.Q(purged_at__isnull=True), name="idx_chat_messages_unpurged"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["chat_session", "sender", "client_message_id"], name="chat_messages_client_id_once"),
        ]
