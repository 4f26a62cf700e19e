"""Changing runtime settings: validate everything, save atomically, audit, then tell
every process (``config:invalidate``) after the commit."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.db import transaction

from config.errors import AppError, ErrorCode
from config.on_commit import after_commit
from config.redis_client import get_redis
from live_settings.locks import config_entries_lock
from live_settings.models import ConfigChange, ConfigEntry
from live_settings.registry import SETTINGS
from live_settings.selectors import config_all_fresh, live_settings_cache


def config_validate(changes: dict[str, Any]) -> dict[str, list[str]]:
    """Per-key error messages for ``changes``; empty when every key and value is valid."""
    errors: dict[str, list[str]] = {}
    for key, value in changes.items():
        spec = SETTINGS.get(key)
        if spec is None:
            errors[key] = ["Unknown setting."]
            continue
        try:
            spec.validate(value)
        except ValueError as exc:
            errors[key] = [str(exc)]
    return errors


def config_publish_invalidation(key: str) -> None:
    """Tell every process to drop ``key`` (SPEC §2 payload); also drop it here at once."""
    live_settings_cache.drop(key)
    get_redis().publish(settings.LIVE_SETTINGS_CHANNEL, json.dumps({"key": key, "ts": int(time.time())}))


@transaction.atomic
def config_update(*, changes: dict[str, Any], actor=None, source: str = ConfigChange.Source.API) -> dict[str, Any]:
    """Save ``changes`` all or nothing and return every key's new value.

    Raises ``AppError(invalid_config)`` with per-key ``errors`` on any unknown key or bad
    value; then nothing is saved. Rows are locked in key order so concurrent saves of
    overlapping keys serialize and each audit row records the true old value.
    """
    if not isinstance(changes, dict) or not changes:
        raise AppError(ErrorCode.INVALID_CONFIG, "Send at least one setting to change.", errors={})
    errors = config_validate(changes)
    if errors:
        first_key = next(iter(errors))
        raise AppError(ErrorCode.INVALID_CONFIG, f"{first_key}: {errors[first_key][0]}", errors=errors)

    keys = sorted(changes)
    # make sure a row exists for each key, so there is something to lock
    ConfigEntry.objects.bulk_create(
        [ConfigEntry(key=key, value=SETTINGS[key].default) for key in keys], ignore_conflicts=True
    )
    current = config_entries_lock(keys)
    changed: list[str] = []
    for key in keys:
        entry, new_value = current[key], changes[key]
        if entry.value == new_value and type(entry.value) is type(new_value):
            continue
        ConfigChange.objects.create(
            key=key, old_value=entry.value, new_value=new_value, changed_by=actor, source=source
        )
        entry.value = new_value
        entry.updated_by = actor
        entry.save(update_fields=["value", "updated_by", "updated_at"])
        changed.append(key)
    for key in changed:
        after_commit(lambda key=key: config_publish_invalidation(key))
    return config_all_fresh()
