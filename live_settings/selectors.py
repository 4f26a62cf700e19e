"""Reads of runtime settings. ``config_get`` is the hot one: served from the
per-process cache, at most one query per key per TTL window or invalidation."""

from __future__ import annotations

from typing import Any

from live_settings.cache import LiveSettingsCache
from live_settings.models import ConfigChange, ConfigEntry
from live_settings.registry import SETTINGS


def _load(key: str) -> Any:
    stored = ConfigEntry.objects.filter(key=key).values_list("value", flat=True).first()
    return SETTINGS[key].default if stored is None else stored


live_settings_cache = LiveSettingsCache(_load)


def config_get(key: str) -> Any:
    """The current value of ``key`` (a SPEC §2 key; anything else is a programming error)."""
    if key not in SETTINGS:
        raise KeyError(f"unknown runtime setting {key!r}")
    return live_settings_cache.get(key)


def config_all_fresh() -> dict[str, Any]:
    """Every key with its stored value (or default), read from the database now: one query."""
    stored = dict(ConfigEntry.objects.values_list("key", "value"))
    return {key: stored.get(key, spec.default) for key, spec in SETTINGS.items()}


def config_changes_list(*, limit: int = 100):
    """The newest settings changes first, with who made them."""
    return ConfigChange.objects.select_related("changed_by").order_by("-changed_at", "-id")[:limit]
