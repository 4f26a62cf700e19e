"""An extension's deadline that fires is observed in ``curhat_deadline_lateness_seconds``
(metrics/instruments.py) with the time since its stored deadline; one that has not
passed, or fires a second time, observes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from extensions.models import Extension
from extensions.services import extension_deadline_fire
from metrics.tests.scrape import scrape

pytestmark = pytest.mark.django_db

LATENESS = "curhat_deadline_lateness_seconds"


def test_an_extension_deadline_that_fires_is_observed_with_its_lateness(
    django_capture_on_commit_callbacks, live_session, request_extension,
):
    extension = request_extension(live_session())
    deadline = Extension.objects.get(id=extension["id"]).deadline_at
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        assert extension_deadline_fire(extension_id=extension["id"], now=deadline - timedelta(seconds=1)) is False
        assert extension_deadline_fire(extension_id=extension["id"], now=deadline + timedelta(seconds=1.5)) is True
        assert extension_deadline_fire(extension_id=extension["id"], now=deadline + timedelta(seconds=5)) is False

    after = scrape()
    assert after.value(f"{LATENESS}_count", deadline="extension") - before.value(f"{LATENESS}_count", deadline="extension") == 1
    assert after.value(f"{LATENESS}_sum", deadline="extension") - before.value(f"{LATENESS}_sum", deadline="extension") == pytest.approx(1.5)
    assert after.value(f"{LATENESS}_bucket", deadline="extension", le="1.0") == before.value(f"{LATENESS}_bucket", deadline="extension", le="1.0")
