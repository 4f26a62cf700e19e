import pytest

from payments.tests.fake_midtrans import FakeMidtrans

SERVER_KEY = "SB-Mid-server-fake-key-for-tests"


@pytest.fixture
def midtrans(settings):
    """The app on ``PAYMENT_PROVIDER=midtrans`` against the fake gateway (a real HTTP
    server on 127.0.0.1), stopped after the test."""
    fake = FakeMidtrans(SERVER_KEY).start()
    settings.PAYMENT_PROVIDER = settings.PAYMENT_PROVIDERS["midtrans"]
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.MIDTRANS_API_BASE_URL = f"{fake.base_url}/v2"
    settings.MIDTRANS_SNAP_BASE_URL = fake.base_url
    settings.MIDTRANS_RETRIES = 1
    settings.PAYMENT_PROVIDER_WAIT_SECONDS = 2
    # for a Celery worker process of the test (``celery_process("worker", env=...)``)
    fake.app_env = {
        "PAYMENT_PROVIDER": "midtrans", "MIDTRANS_SERVER_KEY": SERVER_KEY,
        "MIDTRANS_API_BASE_URL": f"{fake.base_url}/v2", "MIDTRANS_SNAP_BASE_URL": fake.base_url,
    }
    yield fake
    fake.stop()
