from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from idempotency.models import IdempotencyRecord

KEEP_HOURS = 48  # API.md promises at least 24 h


def idempotency_records_prune() -> int:
    """Forget the keys older than ``KEEP_HOURS``; returns how many were deleted."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - timedelta(hours=KEEP_HOURS)).delete()
    return deleted
