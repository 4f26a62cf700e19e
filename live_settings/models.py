from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class ConfigEntry(models.Model):
    """One stored runtime setting. A key without a row has its registry default."""

    key = models.CharField(max_length=64, primary_key=True)
    value = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        db_table = "app_config"
        verbose_name = "setting"

    def __str__(self) -> str:
        return f"{self.key}={self.value!r}"


class ConfigChange(models.Model):
    """Append-only audit of every settings change: who, old, new, when, from where."""

    class Source(models.TextChoices):
        API = "api", "Internal API"
        CONTROL_CENTER = "control_center", "Control center"
        COMMAND = "command", "Command line"

    id = models.BigAutoField(primary_key=True)
    key = models.CharField(max_length=64)
    old_value = models.JSONField(null=True)
    new_value = models.JSONField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)
    changed_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "app_config_changes"
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["key", "-changed_at"], name="idx_app_config_changes_key")]
