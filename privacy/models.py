from django.db import models
from django.db.models.functions import Now


class AccountErasure(models.Model):
    """Append-only record of an erased account (SPEC §13): which (the anonymised row),
    by whom (the person, or an operator for a mitra), when, and the operator's reason.
    Nothing personal."""

    id = models.BigAutoField(primary_key=True)
    user = models.OneToOneField("accounts.User", on_delete=models.PROTECT, related_name="erasure")
    erased_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True, default="", db_default="", help_text="An operator's reason; empty when the person erased their own account.")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "account_erasures"
        ordering = ["-created_at", "-id"]
