"""Shared fixtures: users of each role and authenticated API clients."""

from __future__ import annotations

import itertools

import pytest
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import Role, User

PASSWORD = "s3cret-pass-123"
_counter = itertools.count(1)


@pytest.fixture
def make_customer(db):
    def make(*, call_name: str | None = None, email: str | None = None, phone: str | None = None) -> User:
        n = next(_counter)
        return account_services.customer_register(
            call_name=call_name or f"Customer {n}", email=email or f"customer{n}@example.test", phone=phone,
            password=PASSWORD,
        )

    return make


@pytest.fixture
def make_mitra(db):
    def make(*, display_name: str | None = None, email: str | None = None) -> User:
        n = next(_counter)
        return account_services.mitra_create(
            display_name=display_name or f"Bestie {n}", email=email or f"mitra{n}@example.test", password=PASSWORD
        )

    return make


@pytest.fixture
def make_operator(db):
    def make() -> User:
        n = next(_counter)
        return User.objects.create_user(email=f"operator{n}@example.test", password=PASSWORD, role=Role.OPERATOR)

    return make


def _client_for(user: User) -> APIClient:
    client = APIClient()
    tokens = account_services.token_obtain(login=user.email or user.phone, password=PASSWORD)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    client.tokens = tokens
    client.user = user
    return client


@pytest.fixture
def api_client_for():
    return _client_for


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def customer_client(make_customer):
    return _client_for(make_customer())


@pytest.fixture
def mitra_client(make_mitra):
    return _client_for(make_mitra())


@pytest.fixture
def operator_client(make_operator):
    return _client_for(make_operator())


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """PBKDF2's deliberate slowness buys nothing in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_redis_state():
    """Login counters and cached settings must not leak from one test into the next."""
    from django.conf import settings

    from config.redis_client import get_redis
    from live_settings.selectors import live_settings_cache

    # subscribed first: the subscribe confirmation clears the cache, which would
    # otherwise land in the middle of a test and break its query counts
    assert live_settings_cache.wait_until_subscribed(timeout=10), "no config:invalidate subscription"
    client = get_redis()
    for key in client.scan_iter(f"{settings.REDIS_PREFIX}:login-failures:*"):
        client.delete(key)
    live_settings_cache.clear()
    yield
    live_settings_cache.clear()
