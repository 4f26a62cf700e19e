"""Benchmarks (``make bench``): deadline latency through a real worker, and the cost of
the availability poll. Run with ``make bench``; excluded from ``make test``."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from failed_pairings.models import PairingFailure
from pairing.models import ChatSession
from pairing.tasks import fire_chat_deadline

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]


def test_bench_blast_timeouts_fire_within_1_5_s_at_p99(celery_process, make_customer, confirmed_payment, online_mitra, api_client_for):
    """60 waiting attempts with deadlines spread over 6 s, each fired by its ETA task."""
    online_mitra()
    session_ids = []
    for _ in range(60):
        customer = make_customer()
        payment = confirmed_payment(customer)
        response = api_client_for(customer).post(
            "/api/client/chat/start", {"payment_session_id": str(payment.id), "sensitive": False}, format="json"
        )
        session_ids.append(response.json()["id"])
    # re-time the deadlines: 3..9 s from now, and enqueue the tasks for those times
    now = timezone.now()
    for index, session_id in enumerate(session_ids):
        deadline = now + timedelta(seconds=3 + index * 0.1)
        ChatSession.objects.filter(id=session_id).update(deadline_at=deadline)
        fire_chat_deadline.apply_async(args=[session_id], eta=deadline)
    celery_process("worker")

    end = time.monotonic() + 30
    while PairingFailure.objects.filter(chat_session_id__in=session_ids).count() < len(session_ids) and time.monotonic() < end:
        time.sleep(0.2)

    failures = PairingFailure.objects.filter(chat_session_id__in=session_ids).annotate(fired=F("created_at"))
    assert failures.count() == len(session_ids)
    lags = sorted(
        (failure.fired - (now + timedelta(seconds=3 + session_ids.index(str(failure.chat_session_id)) * 0.1))).total_seconds()
        for failure in failures
    )
    p50, p99 = statistics.median(lags), lags[int(len(lags) * 0.99) - 1]
    print(f"\nblast timeout lag: p50 {p50:.3f} s, p99 {p99:.3f} s, max {lags[-1]:.3f} s (n={len(lags)})")
    assert min(lags) >= -0.05, "a deadline fired early"
    assert p99 <= 1.5


def test_bench_availability_poll_throughput(api_client_for, make_customer, online_mitra, django_assert_num_queries):
    online_mitra()
    client = api_client_for(make_customer())
    client.get("/api/client/mitra-availability")  # warm the cache

    n = 2000
    started = time.perf_counter()
    with django_assert_num_queries(0):
        for _ in range(n):
            client.get("/api/client/mitra-availability")
    elapsed = time.perf_counter() - started
    print(f"\navailability: {n / elapsed:.0f} polls/s in one process (test client, no network)")
    assert n / elapsed >= 300
