"""Shared fixtures: users of each role and authenticated API clients."""

from __future__ import annotations

import itertools
from typing import NamedTuple

import pytest
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import Role, User

PASSWORD = "s3cret-pass-123"
# the contact details of "Ayu", the customer whose identity a mitra must never see
PHONE, PHONE_CANONICAL, EMAIL = "081234567890", "+6281234567890", "ayu.rahasia@example.test"
_counter = itertools.count(1)


def customer_secrets(customer, *extra) -> list[str]:
    """What must never reach a mitra: the customer's phone (any spelling), email, id."""
    return [PHONE, PHONE_CANONICAL, PHONE_CANONICAL[1:], EMAIL, str(customer.id), customer.id.hex, *map(str, extra)]


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
def _rate_limits_out_of_the_way(settings):
    """Every test request comes from 127.0.0.1 and many tests send in bursts: rate
    limits are tested where they are the subject (config/tests/test_rate_limits.py),
    which set the scope they test."""
    settings.RATE_LIMITS = {scope: "100000/s" for scope in settings.RATE_LIMITS}


@pytest.fixture(autouse=True)
def _fresh_redis_state():
    """Redis outlives each test's database: login counters, the availability cache,
    presence and cached settings must not leak from one test into the next."""
    from django.conf import settings

    from config.redis_client import get_redis
    from live_settings.selectors import live_settings_cache

    # subscribed first: the subscribe confirmation clears the cache, which would
    # otherwise land in the middle of a test and break its query counts
    assert live_settings_cache.wait_until_subscribed(timeout=10), "no config:invalidate subscription"
    client = get_redis()
    from accounts.suspended import suspended_users

    for pattern in ("login-failures:*", "rate:*", "availability*", "presence:*", "suspended-users"):
        for key in client.scan_iter(f"{settings.REDIS_PREFIX}:{pattern}"):
            client.delete(key)
    suspended_users.forget()
    live_settings_cache.clear()
    yield
    live_settings_cache.clear()


# --- domain fixtures shared by the pairing / payments / realtime tests -------------------
@pytest.fixture
def set_config(db, make_operator):
    """Change runtime settings the way operators do (the service behind PATCH /internal/config)."""
    from live_settings.services import config_update

    operator = None

    def apply(**values):
        nonlocal operator
        operator = operator or make_operator()
        return config_update(changes=values, actor=operator)

    return apply


@pytest.fixture
def make_tier(db):
    from payments.models import PricingTier, TierKind

    def make(*, amount: int = 50_000, minutes: int = 30, kind: str = TierKind.SESSION, name: str | None = None):
        return PricingTier.objects.create(
            name=name or f"{minutes} menit {next(_counter)}", amount=amount, duration_minutes=minutes, kind=kind
        )

    return make


@pytest.fixture
def confirmed_payment(make_tier):
    """A confirmed (charged) session payment of ``customer``, made through the services."""
    from payments import services as payment_services

    def make(customer, *, amount: int = 50_000, minutes: int = 30, targeted_mitra=None):
        tier = make_tier(amount=amount, minutes=minutes)
        payment = payment_services.payment_session_create(
            customer=customer, tier_id=tier.id, targeted_mitra_id=getattr(targeted_mitra, "id", None)
        )
        return payment_services.payment_session_confirm(customer=customer, payment_id=payment.id)

    return make


@pytest.fixture
def settings_now(set_config):
    """``set_config`` that also takes effect in this process at once.

    Outside ``transaction=True`` tests nothing commits, so the after-commit
    invalidation never runs; dropping the cached values here stands in for it."""
    from live_settings.selectors import live_settings_cache

    def apply(**values):
        result = set_config(**values)
        live_settings_cache.clear()
        return result

    return apply


@pytest.fixture
def start_chat(api_client_for, confirmed_payment):
    """``start_chat(customer)`` → (customer client, 201 body): pays and starts a general blast."""

    def start(customer, *, sensitive: bool = False, minutes: int = 30, amount: int = 50_000):
        client = api_client_for(customer)
        payment = confirmed_payment(customer, minutes=minutes, amount=amount)
        response = client.post("/api/client/chat/start", {"payment_session_id": str(payment.id), "sensitive": sensitive}, format="json")
        assert response.status_code == 201, response.json()
        return client, response.json()

    return start


@pytest.fixture
def online_mitra(make_mitra):
    """A mitra who has gone online through the service."""
    from accounts.models import MitraStatus
    from pairing import answers

    def make(**kwargs):
        mitra = make_mitra(**kwargs)
        answers.mitra_status_set(mitra=mitra, status=MitraStatus.ONLINE)
        return mitra

    return make


class ActiveChat(NamedTuple):
    """What ``active_chat()`` makes; unpacks as (session id, customer client, mitra client)."""

    id: str
    customer_client: APIClient
    mitra_client: APIClient

    @property
    def session(self):
        """The ``ChatSession``, as it is in the database now."""
        from pairing.models import ChatSession

        return ChatSession.objects.get(id=self.id)


@pytest.fixture
def active_chat(make_customer, online_mitra, start_chat, api_client_for):
    """``active_chat(customer=None)`` → ``ActiveChat`` (session id, customer client, mitra
    client; ``.session`` the ``ChatSession``): paid, started and accepted through the API
    by ``customer`` and a new online mitra "Bestie Sekar". Without ``customer``, a new one:
    the first of those is "Ayu" with a phone and an email (``PHONE``, ``EMAIL``)."""
    made = []

    def make(customer=None) -> ActiveChat:
        mitra = online_mitra(display_name="Bestie Sekar")
        if customer is None:
            customer = make_customer(call_name="Ayu", phone=PHONE, email=EMAIL) if not made else make_customer()
            made.append(customer)
        customer_client, started = start_chat(customer)
        mitra_client = api_client_for(mitra)
        accepted = mitra_client.post(f"/api/mitra/chat-requests/{started['id']}/accept")
        assert (accepted.status_code, accepted.json()["status"]) == (200, "active"), accepted.json()
        return ActiveChat(started["id"], customer_client, mitra_client)

    return make


# --- real processes (Celery worker, beat) on the test database ----------------------------
def eventually(condition, what: str, timeout: float = 30):
    """``condition()``'s first truthy value, polled: for what another process (a worker,
    a web process) does after its commit. Waiting bounds nothing about speed (that is
    ``make bench``'s); a condition still false after ``timeout`` fails the test."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not there after {timeout} s")


def database_url_of_this_test() -> str:
    """The URL of the test database pytest-django created, for child processes.
    Only meaningful in ``django_db(transaction=True)`` tests (others never commit)."""
    from urllib.parse import quote

    from django.db import connection

    s = connection.settings_dict
    auth = quote(s["USER"] or "postgres") + (":" + quote(s["PASSWORD"]) if s["PASSWORD"] else "")
    if not s["HOST"] or s["HOST"].startswith("/"):
        return f"postgresql://{auth}@/{s['NAME']}?host={quote(s['HOST'] or '/var/run/postgresql', safe='/')}"
    return f"postgresql://{auth}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"


class CeleryProcess:
    """A real ``celery -A config worker|beat`` child on the test database and Redis."""

    def __init__(self, kind: str, log_path, extra_env: dict | None = None) -> None:
        import os
        import subprocess
        import sys
        from pathlib import Path

        celery = str(Path(sys.executable).parent / "celery")
        argv = [celery, "-A", "config", kind, "--loglevel", (extra_env or {}).get("LOG_LEVEL", "INFO")]
        if kind == "worker":
            argv += ["--pool", "threads", "--concurrency", "4", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        else:
            argv += ["--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--pidfile", "", "--max-interval", "1"]
        env = {**os.environ, "DATABASE_URL": database_url_of_this_test(), **(extra_env or {})}
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            argv, cwd=Path(__file__).resolve().parent, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_for(self, text: str, timeout: float = 30) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_path.read_text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"celery never logged {text!r}:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        import os
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def celery_process(tmp_path):
    """Start real Celery processes: ``celery_process("worker")`` / ``("beat")``, with ``env``
    added to this process's environment; killed at teardown. Messages left in the test
    queue by earlier tests are purged first."""
    from config import celery_app

    celery_app.control.purge()
    started: list[CeleryProcess] = []

    def start(kind: str = "worker", env: dict | None = None) -> CeleryProcess:
        process = CeleryProcess(kind, tmp_path / f"celery-{kind}-{len(started)}.log", env)
        started.append(process)
        process.wait_for("ready." if kind == "worker" else "beat: Starting...")
        return process

    yield start
    for process in started:
        process.kill()


class DaphneProcess:
    """The app as ``make run`` serves it — ``daphne --fd`` on ``config.asgi`` (or
    ``app``), access log on — in a process of its own on the test database and Redis.
    ``.url`` as ``live_server.url``; ``.log_path`` its output (access log and logging)."""

    def __init__(self, log_path, *, app: str = "config.asgi:application", extra_env: dict | None = None) -> None:
        import os
        import socket
        import subprocess
        import sys
        from pathlib import Path

        root = Path(__file__).resolve().parent
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.set_inheritable(True)
        fd, port = self._listener.fileno(), self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "config.web_server", "--fd", str(fd), "--access-log", "-", app],
            cwd=root, env={**os.environ, "DATABASE_URL": database_url_of_this_test(), **(extra_env or {})},
            stdout=self._log, stderr=subprocess.STDOUT, pass_fds=(fd,), start_new_session=True,
        )

    def wait_until_answering(self, path: str = "/admin/login/", attempts: int = 600) -> None:
        import time
        import urllib.error
        import urllib.request

        for _ in range(attempts):
            if self.proc.poll() is not None:
                raise AssertionError(f"daphne exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"daphne never answered {path}:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        import os
        import signal
        import subprocess

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._listener.close()
        self._log.close()


@pytest.fixture
def daphne_process(tmp_path):
    """Start the app under daphne: ``daphne_process(app=..., env=...)`` → a running
    ``DaphneProcess``; stopped at teardown, before the database is flushed."""
    started: list[DaphneProcess] = []

    def start(*, app: str = "config.asgi:application", env: dict | None = None) -> DaphneProcess:
        process = DaphneProcess(tmp_path / f"daphne-{len(started)}.log", app=app, extra_env=env)
        started.append(process)
        process.wait_until_answering()
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def midtrans_gateway(settings):
    """The fake Midtrans (a real HTTP server on 127.0.0.1, ``payments/tests/fake_midtrans.py``),
    stopped after the test. ``activate()`` puts the app on ``PAYMENT_PROVIDER=midtrans``
    against it (payments made before stay on their provider); ``app_env`` is the same for
    a Celery worker of the test (``celery_process("worker", env=...)``)."""
    from payments.tests.fake_midtrans import SERVER_KEY, FakeMidtrans

    fake = FakeMidtrans(SERVER_KEY).start()

    def activate() -> None:
        settings.PAYMENT_PROVIDER = settings.PAYMENT_PROVIDERS["midtrans"]
        settings.MIDTRANS_SERVER_KEY = SERVER_KEY
        settings.MIDTRANS_API_BASE_URL = f"{fake.base_url}/v2"
        settings.MIDTRANS_SNAP_BASE_URL = fake.base_url
        settings.MIDTRANS_RETRIES = 1
        settings.PAYMENT_PROVIDER_WAIT_SECONDS = 2

    fake.activate = activate
    fake.app_env = {
        "PAYMENT_PROVIDER": "midtrans", "MIDTRANS_SERVER_KEY": SERVER_KEY,
        "MIDTRANS_API_BASE_URL": f"{fake.base_url}/v2", "MIDTRANS_SNAP_BASE_URL": fake.base_url,
    }
    yield fake
    fake.stop()


@pytest.fixture
def midtrans(midtrans_gateway):
    """The app on ``PAYMENT_PROVIDER=midtrans`` against the fake gateway from the start."""
    midtrans_gateway.activate()
    return midtrans_gateway
