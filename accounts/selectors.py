"""Reads of accounts."""

from __future__ import annotations

from accounts.models import User


def user_is_active(user_id) -> bool:
    """Whether the account may still use the API and its sockets (as JWT auth checks):
    active, and not suspended by an operator."""
    return User.objects.filter(id=user_id, is_active=True, suspended_at__isnull=True).exists()
