"""The per-process cache: served without queries, dropped by invalidation, TTL-bounded."""

from __future__ import annotations

import json
import time

import pytest

from config.redis_client import get_redis
from live_settings.models import ConfigEntry
from live_settings.selectors import config_get, live_settings_cache
from live_settings.services import config_update

pytestmark = pytest.mark.django_db


def test_a_cached_value_costs_no_query(django_assert_num_queries):
    with django_assert_num_queries(1):
        assert config_get("pairing_blast_timeout_seconds") == 60
    with django_assert_num_queries(0):
        for _ in range(50):
            assert config_get("pairing_blast_timeout_seconds") == 60


def test_a_save_is_seen_by_the_saving_process_right_after_commit(make_operator, django_capture_on_commit_callbacks):
    assert config_get("extension_timeout_seconds") == 10

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        config_update(changes={"extension_timeout_seconds": 7}, actor=make_operator())

    assert len(callbacks) == 1
    assert config_get("extension_timeout_seconds") == 7


def test_a_refused_save_leaves_the_cached_value(make_operator):
    assert config_get("extension_timeout_seconds") == 10

    with pytest.raises(Exception):
        config_update(changes={"extension_timeout_seconds": 7, "closing_goodbye_seconds": 9999}, actor=make_operator())

    assert config_get("extension_timeout_seconds") == 10
    assert ConfigEntry.objects.filter(key="extension_timeout_seconds").count() == 0


def test_the_ttl_backstop_rereads_after_it_expires(settings):
    settings.LIVE_SETTINGS_TTL_SECONDS = 0.2
    assert config_get("free_trial_duration_minutes") == 15
    ConfigEntry.objects.create(key="free_trial_duration_minutes", value=30)  # behind the cache's back
    assert config_get("free_trial_duration_minutes") == 15

    time.sleep(0.25)

    assert config_get("free_trial_duration_minutes") == 30


def test_an_unreadable_invalidation_drops_every_key(django_assert_num_queries):
    config_get("free_trial_enabled")
    config_get("closing_goodbye_seconds")

    live_settings_cache.handle_message(b"not json")

    with django_assert_num_queries(2):
        config_get("free_trial_enabled")
        config_get("closing_goodbye_seconds")


def test_an_invalidation_drops_only_its_key(django_assert_num_queries):
    config_get("free_trial_enabled")
    config_get("closing_goodbye_seconds")

    live_settings_cache.handle_message(json.dumps({"key": "free_trial_enabled", "ts": 1}))

    with django_assert_num_queries(1):
        config_get("free_trial_enabled")
        config_get("closing_goodbye_seconds")


def test_this_process_listens_on_config_invalidate(settings):
    settings.LIVE_SETTINGS_TTL_SECONDS = 600  # only the message can explain a change within the wait
    assert live_settings_cache.wait_until_subscribed(timeout=5)
    assert config_get("max_customers_per_mitra") == 1
    ConfigEntry.objects.create(key="max_customers_per_mitra", value=4)

    get_redis().publish("config:invalidate", json.dumps({"key": "max_customers_per_mitra", "ts": int(time.time())}))

    deadline = time.monotonic() + 60
    while config_get("max_customers_per_mitra") != 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert config_get("max_customers_per_mitra") == 4


def test_an_unknown_key_is_a_programming_error():
    with pytest.raises(KeyError):
        config_get("no_such_setting")
