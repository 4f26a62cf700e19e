"""What ``/metrics`` reads at scrape time: figures from the database (a fixed number of
queries, whatever the number of rows), the Celery queue's length and the delivery
counters in Redis, each matching its source."""

from __future__ import annotations

import pytest

from config import celery_app
from config.redis_client import get_redis
from failed_pairings.models import PairingFailure
from metrics.collectors import SOURCES, ScrapeTimeCollector, celery_queue_keys
from metrics.tests.scrape import scrape
from payments import services as payment_services
from payments.models import PaymentSession, PaymentStatus
from realtime import delivery
from safety.models import AlertStatus, SafetyAlert

pytestmark = pytest.mark.django_db


def _gauge(samples, name: str, label: str) -> dict[str, float]:
    return {dict(labels)[label]: value for labels, value in samples.series(name).items()}


def _failed_attempt(make_customer, start_chat) -> str:
    """A paid chat/start with no mitra online: fails at once (no_mitra_available)."""
    _, body = start_chat(make_customer())
    assert body["status"] == "unmatched"
    return body["id"]


def test_the_database_gauges_match_the_database(make_customer, make_tier, confirmed_payment, start_chat):
    payment_services.payment_session_create(customer=make_customer(), tier_id=make_tier().id)  # pending
    confirmed_payment(make_customer())
    sessions = [_failed_attempt(make_customer, start_chat) for _ in range(3)]
    PairingFailure.objects.filter(chat_session_id=sessions[0]).update(operator_action="no_action")  # actioned
    for phrase, status in (("ingin mati", AlertStatus.OPEN), ("bunuh diri", AlertStatus.ESCALATED),
                           ("menyerah", AlertStatus.RESOLVED)):
        SafetyAlert.objects.create(chat_session_id=sessions[1], phrase=phrase, status=status)
    SafetyAlert.objects.create(chat_session_id=sessions[2], phrase="ingin mati", status=AlertStatus.OPEN)

    samples = scrape()

    payments = _gauge(samples, "curhat_payments", "status")
    assert payments == {status: PaymentSession.objects.filter(status=status).count() for status in PaymentStatus.values}
    assert (payments["pending"], payments["confirmed"], payments["failed_pairing"]) == (1, 1, 3)
    failed = _gauge(samples, "curhat_failed_pairings_open", "cause")
    assert failed["no_mitra_available"] == 2 == PairingFailure.objects.filter(operator_action="").count()
    assert sum(failed.values()) == 2
    alerts = _gauge(samples, "curhat_safety_alerts_unresolved", "status")
    assert alerts == {"open": 2, "acknowledged": 0, "contacted": 0, "escalated": 1}
    assert samples.value("curhat_metrics_source_up", source="database") == 1


def test_the_database_gauges_take_three_queries_whatever_the_rows(django_assert_num_queries, make_customer, start_chat):
    with django_assert_num_queries(3):  # one GROUP BY each: payments, failed pairings, alerts
        list(ScrapeTimeCollector().collect())
    for _ in range(4):
        _failed_attempt(make_customer, start_chat)
    with django_assert_num_queries(3):
        families = {family.name: family for family in ScrapeTimeCollector().collect()}
    assert {s.value for s in families["curhat_failed_pairings_open"].samples if s.labels["cause"] == "no_mitra_available"} == {4}


def test_the_queue_length_is_the_brokers_llen():
    queue = celery_app.conf.task_default_queue
    redis = get_redis()
    celery_app.control.purge()
    try:
        for _ in range(3):  # no worker runs in this test: they wait in the queue
            celery_app.send_task("pairing.tasks.fire_due_timers")
        waiting = sum(redis.llen(key) for key in celery_queue_keys(queue))
        samples = scrape()
    finally:
        celery_app.control.purge()
    assert waiting == 3
    assert samples.value("curhat_celery_queue_length", queue=queue) == 3
    assert redis.llen(celery_queue_keys(queue)[0]) == 0  # purged: the gauge follows
    assert scrape().value("curhat_celery_queue_length", queue=queue) == 0


def test_the_delivery_counters_are_the_shared_ones_in_redis():
    before = scrape()
    delivery.count(events_sent=7, events_dropped=2, events_retried=1)
    after = scrape()
    stats = delivery.delivery_stats()
    assert after.value("curhat_realtime_events_delivered_total") == stats["events_sent"]
    assert after.value("curhat_realtime_events_dropped_total") == stats["events_dropped"]
    assert after.value("curhat_realtime_event_retries_total") == stats["events_retried"]
    assert after.value("curhat_realtime_events_delivered_total") - before.value("curhat_realtime_events_delivered_total") == 7
    assert after.value("curhat_realtime_events_dropped_total") - before.value("curhat_realtime_events_dropped_total") == 2


def test_a_source_that_cannot_be_read_is_left_out_and_said_so(monkeypatch):
    def unreachable():
        raise ConnectionError("redis is down")
        yield  # pragma: no cover

    monkeypatch.setitem(SOURCES, "celery_queue", unreachable)
    samples = scrape()
    assert samples.value("curhat_metrics_source_up", source="celery_queue") == 0
    assert samples.value("curhat_metrics_source_up", source="delivery") == 1
    assert "curhat_celery_queue_length" not in samples.names()
    assert "curhat_payments" in samples.names()


def test_a_scrape_with_the_token_runs_only_those_three_queries(client, settings, django_assert_num_queries, make_customer, start_chat):
    from metrics.tests.scrape import TOKEN

    settings.METRICS_TOKEN = TOKEN
    _failed_attempt(make_customer, start_chat)
    with django_assert_num_queries(3):  # no session or user read for a token
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
