"""The ``Idempotency-Key`` header (API.md Conventions; ``idempotency.header``), exercised on
the payment endpoints, including duplicates that arrive at the same moment, and the
pruning of old keys (``idempotency.services``, ``idempotency.tasks``)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from config.errors import ErrorCode
from idempotency.header import MAX_KEY_LENGTH
from idempotency.models import IdempotencyRecord
from idempotency.services import KEEP_HOURS, idempotency_records_prune
from idempotency.tasks import prune_idempotency_keys
from payments.models import PaymentEvent, PaymentSession, PaymentStatus, Transaction

pytestmark = pytest.mark.django_db

CREATE = "/api/client/payment-sessions"
REPLAYED = "Idempotent-Replayed"


def confirm_url(payment_id) -> str:
    return f"/api/client/payment-sessions/{payment_id}/confirm"


def cancel_url(payment_id) -> str:
    return f"/api/client/payment-sessions/{payment_id}/cancel"


def post(client, path: str, body: dict | None = None, *, key: str | None = None):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, body or {}, format="json", **headers)


def money_state() -> dict:
    return {
        "payments": sorted((str(p), s) for p, s in PaymentSession.objects.values_list("id", "status")),
        "transactions": Transaction.objects.count(),
        "events": list(PaymentEvent.objects.order_by("id").values_list("id", "to_status")),
    }


def race(n: int, work) -> list:
    """Run ``work(i)`` in ``n`` threads released together; each thread has its own
    database connection and closes it. Returns results (or the exception raised)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except BaseException as exc:  # reported by the caller's assertions
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racing request hung"
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return results


# --- replays -------------------------------------------------------------------------------
def test_same_key_and_body_twice_returns_the_first_201_and_creates_one_payment(customer_client, make_tier):
    tier = make_tier()

    first = post(customer_client, CREATE, {"tier_id": str(tier.id)}, key="k-1")
    second = post(customer_client, CREATE, {"tier_id": str(tier.id)}, key="k-1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert REPLAYED not in first.headers
    assert second.headers[REPLAYED] == "true"
    assert list(PaymentSession.objects.values_list("id", flat=True)) == [PaymentSession.objects.get(id=first.json()["id"]).id]
    assert PaymentEvent.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.user_id, record.key, record.response_status, record.response_body) == (
        customer_client.user.id, "k-1", 201, first.json()
    )


def test_a_replay_returns_the_first_response_even_after_the_payment_moved_on(customer_client, make_tier):
    tier = make_tier()
    first = post(customer_client, CREATE, {"tier_id": str(tier.id)}, key="create-once")
    post(customer_client, confirm_url(first.json()["id"]))

    replay = post(customer_client, CREATE, {"tier_id": str(tier.id)}, key="create-once")

    assert replay.status_code == 201 and replay.headers[REPLAYED] == "true"
    assert replay.json() == first.json()  # the first response, status "pending", not a fresh read
    assert PaymentSession.objects.get().status == PaymentStatus.CONFIRMED


def test_key_order_in_the_body_does_not_make_a_different_request(customer_client, make_tier, make_mitra):
    tier, mitra = make_tier(), make_mitra()
    first = customer_client.post(
        CREATE, f'{{"tier_id": "{tier.id}", "targeted_mitra_id": "{mitra.id}"}}', content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="ordered",
    )
    second = customer_client.post(
        CREATE, f'{{"targeted_mitra_id": "{mitra.id}", "tier_id": "{tier.id}"}}', content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="ordered",
    )

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers[REPLAYED] == "true"
    assert PaymentSession.objects.count() == 1


def test_same_key_with_another_body_is_422_and_creates_nothing(customer_client, make_tier):
    t1, t2 = make_tier(amount=50_000), make_tier(amount=90_000, minutes=60)
    post(customer_client, CREATE, {"tier_id": str(t1.id)}, key="k-2")
    before = money_state()

    response = post(customer_client, CREATE, {"tier_id": str(t2.id)}, key="k-2")

    assert response.status_code == 422
    assert response.json()["code"] == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert REPLAYED not in response.headers
    assert money_state() == before
    assert IdempotencyRecord.objects.count() == 1


def test_same_key_on_another_endpoint_is_422_and_changes_nothing(customer_client, make_tier):
    created = post(customer_client, CREATE, {"tier_id": str(make_tier().id)}, key="k-3").json()
    before = money_state()

    response = post(customer_client, confirm_url(created["id"]), key="k-3")

    assert response.status_code == 422 and response.json()["code"] == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert money_state() == before
    assert PaymentSession.objects.get().status == PaymentStatus.PENDING


def test_the_same_key_from_another_customer_is_independent(make_customer, api_client_for, make_tier):
    tier = make_tier()
    ayu, budi = api_client_for(make_customer()), api_client_for(make_customer())

    mine = post(ayu, CREATE, {"tier_id": str(tier.id)}, key="shared-key")
    theirs = post(budi, CREATE, {"tier_id": str(tier.id)}, key="shared-key")

    assert mine.status_code == theirs.status_code == 201
    assert REPLAYED not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert sorted(PaymentSession.objects.values_list("customer_id", flat=True)) == sorted([ayu.user.id, budi.user.id])


def test_confirm_replay_with_a_key_charges_once(customer_client, make_tier):
    created = post(customer_client, CREATE, {"tier_id": str(make_tier(amount=50_000).id)}).json()

    first = post(customer_client, confirm_url(created["id"]), key="pay-1")
    second = post(customer_client, confirm_url(created["id"]), key="pay-1")

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() and second.headers[REPLAYED] == "true"
    assert list(Transaction.objects.values_list("amount", flat=True)) == [50_000]
    assert list(PaymentEvent.objects.values_list("to_status", flat=True)) == ["pending", "confirmed"]


def test_cancel_replay_with_a_key_returns_the_first_answer(customer_client, make_tier):
    created = post(customer_client, CREATE, {"tier_id": str(make_tier().id)}).json()

    first = post(customer_client, cancel_url(created["id"]), key="back-out")
    second = post(customer_client, cancel_url(created["id"]), key="back-out")

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "abandoned" and second.json() == first.json()
    assert second.headers[REPLAYED] == "true"
    assert list(PaymentEvent.objects.values_list("to_status", flat=True)) == ["pending", "abandoned"]


def test_a_refused_request_does_not_burn_its_key(customer_client, make_tier):
    """An error rolls the key back with the work: the app may retry the same key."""
    tier = make_tier()
    refused = post(customer_client, CREATE, {"tier_id": str(tier.id), "targeted_mitra_id": str(tier.id)}, key="retry-me")
    assert refused.status_code == 400 and refused.json()["code"] == ErrorCode.UNKNOWN_MITRA
    assert IdempotencyRecord.objects.count() == 0 and PaymentSession.objects.count() == 0

    retried = post(customer_client, CREATE, {"tier_id": str(tier.id)}, key="retry-me")

    assert retried.status_code == 201 and REPLAYED not in retried.headers
    assert PaymentSession.objects.count() == 1


def test_a_key_is_still_honoured_after_23_hours(customer_client, make_tier):
    tier = make_tier()
    first = post(customer_client, CREATE, {"tier_id": str(tier.id)}, key="day-old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=23))
    idempotency_records_prune()

    replay = post(customer_client, CREATE, {"tier_id": str(tier.id)}, key="day-old")

    assert replay.json() == first.json() and replay.headers[REPLAYED] == "true"
    assert PaymentSession.objects.count() == 1


# --- key validation -------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["x" * (MAX_KEY_LENGTH + 1), "k" * 500, "   "])
def test_a_key_that_is_too_long_or_blank_is_400_and_creates_nothing(customer_client, make_tier, key):
    tier = make_tier()

    response = post(customer_client, CREATE, {"tier_id": str(tier.id)}, key=key)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == ErrorCode.INVALID_INPUT and set(body["errors"]) == {"Idempotency-Key"}
    assert PaymentSession.objects.count() == 0 and IdempotencyRecord.objects.count() == 0 and PaymentEvent.objects.count() == 0


def test_a_key_of_exactly_128_characters_is_accepted(customer_client, make_tier):
    tier = make_tier()
    key = "k" * MAX_KEY_LENGTH

    first = post(customer_client, CREATE, {"tier_id": str(tier.id)}, key=key)
    second = post(customer_client, CREATE, {"tier_id": str(tier.id)}, key=key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert PaymentSession.objects.count() == 1


def test_without_a_key_every_create_is_a_new_payment(customer_client, make_tier):
    tier = make_tier()

    first = post(customer_client, CREATE, {"tier_id": str(tier.id)})
    second = post(customer_client, CREATE, {"tier_id": str(tier.id)})

    assert first.json()["id"] != second.json()["id"]
    assert PaymentSession.objects.count() == 2 and IdempotencyRecord.objects.count() == 0


# --- retention --------------------------------------------------------------------------------
def test_pruning_forgets_only_keys_past_their_retention(make_customer):
    customer = make_customer()
    now = timezone.now()
    ages = {"fresh": 0, "one-day": 24, "almost": KEEP_HOURS - 1, "stale": KEEP_HOURS + 1}
    for key, hours in ages.items():
        record = IdempotencyRecord.objects.create(user=customer, key=key, request_fingerprint="f")
        IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=now - timedelta(hours=hours))

    deleted = idempotency_records_prune()

    assert deleted == 1
    assert sorted(IdempotencyRecord.objects.values_list("key", flat=True)) == ["almost", "fresh", "one-day"]
    assert KEEP_HOURS >= 24  # API.md: kept at least 24 h


def test_the_beat_prune_task_forgets_old_keys(make_customer):
    customer = make_customer()
    old = IdempotencyRecord.objects.create(user=customer, key="old", request_fingerprint="f")
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=KEEP_HOURS + 1))
    IdempotencyRecord.objects.create(user=customer, key="new", request_fingerprint="f")

    assert prune_idempotency_keys() == 1

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_beat_runs_the_prune_task_every_60_seconds(settings):
    """As often as the payment sweeper that pruned the keys before."""
    assert settings.CELERY_BEAT_SCHEDULE["prune-idempotency-keys"] == {
        "task": "idempotency.tasks.prune_idempotency_keys", "schedule": 60.0,
    }


# --- duplicates at the same moment -----------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_simultaneous_duplicates_create_one_payment_and_get_identical_answers(make_customer, api_client_for, make_tier):
    # given one customer's app firing the same request from 10 connections at once
    customer, tier = make_customer(), make_tier()
    clients = [api_client_for(customer) for _ in range(10)]

    # when
    responses = race(len(clients), lambda i: post(clients[i], CREATE, {"tier_id": str(tier.id)}, key="burst"))

    # then exactly one payment; everyone got the same 201 body; all but one are replays
    assert [r.status_code for r in responses] == [201] * len(clients), [r.content for r in responses]
    bodies = [r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies)
    assert sorted(r.headers.get(REPLAYED, "") for r in responses) == [""] + ["true"] * (len(clients) - 1)
    assert list(PaymentSession.objects.values_list("id", flat=True)) == [PaymentSession.objects.get(id=bodies[0]["id"]).id]
    assert PaymentEvent.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_confirms_with_one_key_charge_once(make_customer, api_client_for, make_tier):
    customer = make_customer()
    clients = [api_client_for(customer) for _ in range(8)]
    created = post(clients[0], CREATE, {"tier_id": str(make_tier(amount=50_000).id)}).json()

    responses = race(len(clients), lambda i: post(clients[i], confirm_url(created["id"]), key="pay-burst"))

    assert [r.status_code for r in responses] == [200] * len(clients)
    assert all(r.json() == responses[0].json() for r in responses)
    assert responses[0].json()["status"] == "confirmed"
    assert list(Transaction.objects.values_list("amount", flat=True)) == [50_000]
    assert list(PaymentEvent.objects.values_list("to_status", flat=True)) == ["pending", "confirmed"]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_confirms_without_a_key_still_charge_once(make_customer, api_client_for, make_tier):
    """Confirm is idempotent by itself (row lock + state check), key or no key."""
    customer = make_customer()
    clients = [api_client_for(customer) for _ in range(8)]
    created = post(clients[0], CREATE, {"tier_id": str(make_tier(amount=90_000, minutes=60).id)}).json()

    responses = race(len(clients), lambda i: post(clients[i], confirm_url(created["id"])))

    assert [r.status_code for r in responses] == [200] * len(clients)
    assert {r.json()["status"] for r in responses} == {"confirmed"}
    assert list(Transaction.objects.values_list("amount", flat=True)) == [90_000]
    assert list(PaymentEvent.objects.values_list("to_status", flat=True)) == ["pending", "confirmed"]
