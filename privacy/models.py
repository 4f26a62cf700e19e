from django.db import models
from django.db.models.functions import Now


class AccountErasure(models.Model):
    """Append-only record of an erased account (SPEC §13): which (the anonymised row),
    by whom (the person, or an operator for a mitra), when. Nothing personal."""

    id = models.BigAutoField(primary_key=True)
    user = models.OneToOneField("accounts.User", on_delete=models.PROTECT, related_name="erasure")
    erased_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "account_erasures"
        ordering = ["-created_at", "-id"]
