"""Row locks of the runtime settings (``app_config``), taken alone: a settings change
locks nothing else (``config/locks.py``)."""

from __future__ import annotations

from config.locks import rows_lock
from live_settings.models import ConfigEntry


def config_entries_lock(keys) -> dict[str, ConfigEntry]:
    """The rows of ``keys`` ``FOR UPDATE``, in key (primary-key) order, by key."""
    return {entry.key: entry for entry in rows_lock(ConfigEntry.objects.filter(key__in=keys))}
