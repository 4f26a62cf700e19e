"""An account that is deactivated or deleted loses its open sockets at once (after the
commit), in whichever process holds them; new ones are refused at connect."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from accounts.models import User
from config.on_commit import after_commit
from realtime.delivery import close_sockets


def _close_if_inactive(sender, instance: User, **kwargs) -> None:
    if not instance.is_active:
        user_id = instance.id
        after_commit(lambda: close_sockets([user_id]))


def _close_deleted(sender, instance: User, **kwargs) -> None:
    user_id = instance.id
    after_commit(lambda: close_sockets([user_id]))


def connect() -> None:
    post_save.connect(_close_if_inactive, sender=User, dispatch_uid="realtime-close-inactive")
    post_delete.connect(_close_deleted, sender=User, dispatch_uid="realtime-close-deleted")
