"""Ratings (SPEC §12): a customer rates a completed session once, within
``rating_window_days``; a mitra sees their average, count and recent comments with no
customer identity."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import customer_secrets
from pairing.models import ChatSession
from pairing.tests.live import as_text, race
from safety.models import Rating


def _rate(client, session_id, **body):
    return client.post(f"/api/client/chat/{session_id}/rating", body, format="json")


@pytest.mark.django_db
def test_a_completed_session_is_rated_once(session_between, end_session):
    session_id, customer, mitra = session_between()
    end_session(session_id)

    rated = _rate(customer, session_id, stars=5, comment="Makasih, lega banget")
    again = _rate(customer, session_id, stars=1)

    assert rated.status_code == 201
    assert rated.json() == {"stars": 5, "comment": "Makasih, lega banget", "created_at": rated.json()["created_at"]}
    assert (again.status_code, again.json()["code"]) == (409, "already_rated")
    assert list(Rating.objects.values_list("stars", "mitra_id")) == [(5, mitra.user.id)]


@pytest.mark.django_db
def test_a_running_session_cannot_be_rated_yet(session_between):
    session_id, customer, _ = session_between()

    response = _rate(customer, session_id, stars=4)

    assert (response.status_code, response.json()["code"]) == (409, "session_not_completed")


@pytest.mark.django_db
def test_the_rating_window_closes_after_rating_window_days(session_between, end_session, settings_now):
    settings_now(rating_window_days=3)
    late, customer, _ = session_between()
    end_session(late)
    in_time, customer2, _ = session_between()
    end_session(in_time)
    ChatSession.objects.filter(id=late).update(ended_at=timezone.now() - timedelta(days=3, minutes=1))
    ChatSession.objects.filter(id=in_time).update(ended_at=timezone.now() - timedelta(days=2, hours=23))

    closed = _rate(customer, late, stars=4)
    open_ = _rate(customer2, in_time, stars=4)

    assert (closed.status_code, closed.json()["code"]) == (409, "rating_window_closed")
    assert open_.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [{}, {"stars": 0}, {"stars": 6}, {"stars": 4.5}, {"stars": "lima"}, {"stars": None}, {"stars": 5, "comment": "x" * 501}],
)
def test_a_bad_rating_is_400_and_saves_nothing(session_between, end_session, body):
    session_id, customer, _ = session_between()
    end_session(session_id)

    response = _rate(customer, session_id, **body)

    assert (response.status_code, response.json()["code"]) == (400, "invalid_input")
    assert not Rating.objects.exists()


@pytest.mark.django_db
def test_only_the_sessions_customer_rates(session_between, end_session, customer_client):
    session_id, _, mitra = session_between()
    end_session(session_id)

    assert _rate(customer_client, session_id, stars=1).status_code == 404
    assert mitra.post(f"/api/client/chat/{session_id}/rating", {"stars": 5}, format="json").status_code == 403
    assert not Rating.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_ratings_at_once_give_one(session_between, end_session, api_client_for):
    session_id, customer, _ = session_between()
    end_session(session_id)
    devices = [api_client_for(customer.user) for _ in range(5)]

    results = race([lambda c=c, i=i: _rate(c, session_id, stars=i + 1) for i, c in enumerate(devices)])

    assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409]
    assert Rating.objects.count() == 1


@pytest.mark.django_db
def test_the_mitra_sees_average_count_and_recent_comments_without_any_customer(
    ayu, online_mitra, session_between, end_session, make_customer
):
    mitra = online_mitra(display_name="Bestie Sekar")
    ratings = [(5, "Ayu di sini, makasih ya"), (4, ""), (2, "kurang responsif")]
    mitra_client = None
    for index, (stars, comment) in enumerate(ratings):
        session_id, customer, mitra_client = session_between(mitra=mitra, customer=ayu if index == 0 else make_customer())
        end_session(session_id)
        assert _rate(customer, session_id, stars=stars, comment=comment).status_code == 201

    summary = mitra_client.get("/api/mitra/ratings/summary").json()

    assert summary["average"] == pytest.approx(11 / 3, abs=0.01) and summary["count"] == 3
    assert [(r["stars"], r["comment"]) for r in summary["recent"]] == list(reversed(ratings))
    assert all(set(r) == {"stars", "comment", "created_at"} for r in summary["recent"])
    # the comment is the customer's own words; nothing the service adds names them
    for secret in customer_secrets(ayu):
        assert secret not in as_text(summary)


@pytest.mark.django_db
def test_a_mitra_without_ratings_has_no_average(mitra_client):
    assert mitra_client.get("/api/mitra/ratings/summary").json() == {"average": None, "count": 0, "recent": []}


@pytest.mark.django_db
def test_the_summary_costs_the_same_queries_for_3_or_40_ratings(online_mitra, session_between, end_session, api_client_for, django_assert_num_queries):
    mitra = online_mitra()
    client = api_client_for(mitra)

    def rate(count):
        for _ in range(count):
            session_id, customer, _ = session_between(mitra=mitra)
            end_session(session_id)
            _rate(customer, session_id, stars=3)

    rate(3)
    with django_assert_num_queries(3):  # user, totals, recent
        assert client.get("/api/mitra/ratings/summary").json()["count"] == 3
    rate(37)
    with django_assert_num_queries(3):
        body = client.get("/api/mitra/ratings/summary").json()
    assert body["count"] == 40 and len(body["recent"]) == 10
