"""GET /api/client/mitra-availability (SPEC §3): a yes/no only, served from the shared
Redis cache, refreshed at once when a mitra toggles status or a session starts.

The refresh on a status change runs after the commit, so the toggles here run inside
``django_capture_on_commit_callbacks(execute=True)``.
"""

from __future__ import annotations

import pytest

from accounts.suspended import suspended_users_publish

from config.redis_client import get_redis
from live_settings.selectors import config_get
from pairing.models import ChatSession
from pairing.tests.conftest import availability_key

pytestmark = pytest.mark.django_db

AVAILABILITY = "/api/client/mitra-availability"


def _availability(client) -> dict:
    response = client.get(AVAILABILITY)
    assert response.status_code == 200, response.json()
    return response.json()


def test_with_no_mitra_online_the_body_is_exactly_available_false(customer_client, make_mitra):
    # given: a mitra exists but is offline
    make_mitra()

    # when / then
    assert _availability(customer_client) == {"available": False}


def test_a_mitra_going_online_is_seen_at_once_not_after_the_ttl(
    customer_client, make_mitra, api_client_for, django_capture_on_commit_callbacks
):
    # given: "nobody" is cached for the next 10 s
    mitra_client = api_client_for(make_mitra())
    assert _availability(customer_client) == {"available": False}
    assert get_redis().get(availability_key()) == "0"

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = mitra_client.post("/api/mitra/status/online")

    # then: the next poll already says yes
    assert (response.status_code, response.json()) == (200, {"status": "online"})
    assert _availability(customer_client) == {"available": True}


def test_the_only_online_mitra_at_capacity_is_not_available(
    customer_client, online_mitra, matched_session, settings_now, django_capture_on_commit_callbacks
):
    # given: capacity 1 and the only online mitra is free
    settings_now(max_customers_per_mitra=1)
    mitra = online_mitra()
    assert _availability(customer_client) == {"available": True}

    # when: an accepted session takes their slot
    with django_capture_on_commit_callbacks(execute=True):
        session_id = matched_session(mitra)

    # then: at once (the accept refreshed the cache), and on a fresh computation too
    assert ChatSession.objects.get(id=session_id).status == "active"
    assert _availability(customer_client) == {"available": False}
    get_redis().delete(availability_key())
    assert _availability(customer_client) == {"available": False}


def test_a_slot_left_below_capacity_keeps_the_mitra_available(customer_client, online_mitra, matched_session, settings_now):
    # given: capacity 2, one session running
    settings_now(max_customers_per_mitra=2)
    matched_session(online_mitra())

    # when / then
    assert _availability(customer_client) == {"available": True}


def test_going_offline_removes_the_mitra_at_once_and_their_session_stays_active(
    customer_client, online_mitra, api_client_for, matched_session, settings_now, django_capture_on_commit_callbacks
):
    # given: capacity 2, the only online mitra has one active session, so "yes" is cached
    settings_now(max_customers_per_mitra=2)
    mitra = online_mitra()
    session_id = matched_session(mitra)
    assert _availability(customer_client) == {"available": True}
    mitra_client = api_client_for(mitra)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = mitra_client.post("/api/mitra/status/offline")

    # then
    assert (response.status_code, response.json()) == (200, {"status": "offline"})
    assert _availability(customer_client) == {"available": False}
    session = ChatSession.objects.get(id=session_id)
    assert (session.status, session.mitra_id, session.ended_at, session.ended_by) == ("active", mitra.id, None, "")
    active = mitra_client.get("/api/mitra/sessions", {"status": "active"}).json()["results"]
    assert [s["id"] for s in active] == [session_id]


# --- cost of a poll -------------------------------------------------------------------
def test_a_cache_hit_costs_no_query(customer_client, online_mitra, django_assert_num_queries):
    # given: the answer is cached
    online_mitra()
    assert _availability(customer_client) == {"available": True}

    # when / then: stateless JWT, Redis only
    with django_assert_num_queries(0):
        response = customer_client.get(AVAILABILITY)
    assert response.json() == {"available": True}


@pytest.mark.parametrize("online", [0, 1, 15])
def test_a_miss_costs_exactly_one_query_however_many_mitras_are_online(
    online, customer_client, online_mitra, make_mitra, django_assert_num_queries
):
    # given: some online mitras, some offline, and no cached answer
    for _ in range(online):
        online_mitra()
    make_mitra()
    get_redis().delete(availability_key())
    config_get("max_customers_per_mitra")  # the per-process settings cache is warm, as in a running server
    suspended_users_publish()  # and the shared set of suspended accounts is built (beat does it)

    # when
    with django_assert_num_queries(1):
        response = customer_client.get(AVAILABILITY)

    # then: the answer is shared with every process for the next window
    assert response.json() == {"available": online > 0}
    assert get_redis().get(availability_key()) == ("1" if online else "0")
    assert 0 < get_redis().ttl(availability_key()) <= 10


def test_mitra_and_anonymous_callers_are_refused(mitra_client, anon_client):
    assert mitra_client.get(AVAILABILITY).status_code == 403
    assert anon_client.get(AVAILABILITY).status_code == 401
