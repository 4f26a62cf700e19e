"""GET /internal/failed-pairings (API.md "Operators", SPEC §7): the failure object,
newest first, 50 a page, the cause-tag and date-range filters, staff only."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from failed_pairings.models import PairingFailure

pytestmark = pytest.mark.django_db

URL = "/internal/failed-pairings"
UTC = dt_timezone.utc


@pytest.fixture
def failures(make_customer, confirmed_payment):
    """``failures(moments, cause_tag=...)`` → failure rows created at the given moments
    (one customer, one payment: a list read does not care how they came to be)."""
    customer = make_customer(call_name="Ayu")
    payment = confirmed_payment(customer, amount=90_000)

    def make(moments, *, cause_tag="no_mitra_available", targeted_mitra=None):
        rows = PairingFailure.objects.bulk_create(
            [
                PairingFailure(customer=customer, cause_tag=cause_tag, amount=payment.amount, payment_session=payment, targeted_mitra=targeted_mitra)
                for _ in moments
            ]
        )
        for row, moment in zip(rows, moments):
            PairingFailure.objects.filter(pk=row.pk).update(created_at=moment)
        return [str(row.pk) for row in rows]

    return make


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


# --- the object ------------------------------------------------------------------------
def test_a_failed_blast_is_listed_with_the_api_md_shape(make_customer, confirmed_payment, api_client_for, operator_client):
    # given: a paid chat found nobody
    customer = make_customer(call_name="Ayu", phone="081234567890")
    payment = confirmed_payment(customer, amount=90_000, minutes=60)
    start = api_client_for(customer).post("/api/client/chat/start", {"payment_session_id": str(payment.id), "sensitive": False}, format="json")
    assert start.json()["status"] == "unmatched"
    failure = PairingFailure.objects.get()

    # when
    response = operator_client.get(URL)

    # then
    assert response.status_code == 200
    assert response.json() == {
        "count": 1, "next": None, "previous": None,
        "results": [
            {
                "id": str(failure.id),
                "created_at": failure.created_at.isoformat().replace("+00:00", "Z"),
                "customer": {"id": str(customer.id), "call_name": "Ayu"},
                "targeted_mitra": None,
                "cause_tag": "no_mitra_available",
                "amount": 90_000,
                "payment_session_id": str(payment.id),
                "payment_status": "failed_pairing",
                "operator_action": None,
                "actioned_by": None,
                "actioned_at": None,
                "note": "",
                "refund_error": None,
            }
        ],
    }


def test_a_targeted_failure_names_the_mitra_and_shows_the_payments_current_status(failures, make_mitra, operator_client):
    # given: the targeted mitra was offline; the payment stays confirmed
    mitra = make_mitra(display_name="Bestie Sekar")
    [failure_id] = failures([datetime(2026, 11, 20, 10, tzinfo=UTC)], cause_tag="targeted_mitra_offline", targeted_mitra=mitra)

    # when
    [row] = operator_client.get(URL).json()["results"]

    # then
    assert row["id"] == failure_id
    assert (row["targeted_mitra"], row["cause_tag"], row["payment_status"]) == (
        {"id": str(mitra.id), "display_name": "Bestie Sekar"}, "targeted_mitra_offline", "confirmed"
    )


# --- order and pages -------------------------------------------------------------------
def test_sixty_failures_come_newest_first_fifty_a_page(failures, operator_client):
    # given: sixty failures a minute apart, created out of order
    base = datetime(2026, 11, 20, 12, tzinfo=UTC)
    moments = [base + timedelta(minutes=(i * 37) % 60) for i in range(60)]
    ids = failures(moments)
    newest_first = [i for _, i in sorted(zip(moments, ids), reverse=True)]

    # when
    first = operator_client.get(URL)
    second = operator_client.get(URL, {"page": 2})

    # then
    assert first.json()["count"] == 60
    assert (first.json()["next"], first.json()["previous"]) == (f"http://testserver{URL}?page=2", None)
    assert _ids(first) == newest_first[:50]
    assert second.json()["count"] == 60
    assert (second.json()["next"], second.json()["previous"]) == (None, f"http://testserver{URL}")
    assert _ids(second) == newest_first[50:]


def test_a_page_past_the_end_is_404(failures, operator_client):
    failures([datetime(2026, 11, 20, tzinfo=UTC)])

    response = operator_client.get(URL, {"page": 3})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("rows", [5, 60])
def test_a_page_costs_the_same_number_of_queries_for_5_or_60_rows(rows, failures, make_mitra, operator_client, django_assert_num_queries):
    # given: failures of several customers, some with a targeted mitra
    base = datetime(2026, 11, 20, 12, tzinfo=UTC)
    failures([base + timedelta(minutes=i) for i in range(rows // 2)])
    failures([base - timedelta(minutes=i) for i in range(rows - rows // 2)], cause_tag="targeted_mitra_rejected", targeted_mitra=make_mitra())

    # when / then: operator, count, page (customers, mitras and payments joined)
    with django_assert_num_queries(3):
        response = operator_client.get(URL)
    assert len(response.json()["results"]) == min(rows, 50)


# --- filters -----------------------------------------------------------------------------
def test_cause_tags_keeps_any_of_the_listed_tags(failures, operator_client):
    # given
    moment = datetime(2026, 11, 20, tzinfo=UTC)
    cancelled = failures([moment, moment + timedelta(hours=1)], cause_tag="customer_cancelled")
    rejected = failures([moment + timedelta(hours=2)], cause_tag="all_mitras_rejected")
    failures([moment + timedelta(hours=3)], cause_tag="no_mitra_available")

    # when
    response = operator_client.get(URL, {"cause_tags": "customer_cancelled,all_mitras_rejected"})

    # then
    assert response.json()["count"] == 3
    assert _ids(response) == [rejected[0], cancelled[1], cancelled[0]]


def test_cause_tags_are_kept_on_the_page_links(failures, operator_client):
    failures([datetime(2026, 11, 20, tzinfo=UTC) + timedelta(minutes=i) for i in range(55)], cause_tag="customer_cancelled")
    failures([datetime(2026, 11, 20, tzinfo=UTC)], cause_tag="no_mitra_available")

    response = operator_client.get(URL, {"cause_tags": "customer_cancelled"})

    assert response.json()["count"] == 55
    assert response.json()["next"] == f"http://testserver{URL}?cause_tags=customer_cancelled&page=2"


def test_created_from_and_to_as_dates_include_both_whole_days(failures, operator_client):
    # given: rows just around the edges of 21 and 22 November (UTC)
    before, first, last, after = failures(
        [
            datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(2026, 11, 21, 0, 0, tzinfo=UTC),
            datetime(2026, 11, 22, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(2026, 11, 23, 0, 0, tzinfo=UTC),
        ]
    )

    # when / then
    assert _ids(operator_client.get(URL, {"created_from": "2026-11-21", "created_to": "2026-11-22"})) == [last, first]
    assert _ids(operator_client.get(URL, {"created_from": "2026-11-22"})) == [after, last]
    assert _ids(operator_client.get(URL, {"created_to": "2026-11-20"})) == [before]
    assert _ids(operator_client.get(URL, {"created_from": "2026-11-21", "created_to": "2026-11-21"})) == [first]


def test_created_from_and_to_as_datetimes_are_exact_and_inclusive(failures, operator_client):
    # given
    early, noon, late = failures(
        [datetime(2026, 11, 21, 4, 59, tzinfo=UTC), datetime(2026, 11, 21, 5, 0, tzinfo=UTC), datetime(2026, 11, 21, 5, 1, tzinfo=UTC)]
    )

    # when / then: UTC, an offset, and a naive time (read as UTC, the server's zone)
    assert _ids(operator_client.get(URL, {"created_from": "2026-11-21T05:00:00Z", "created_to": "2026-11-21T05:00:00Z"})) == [noon]
    assert _ids(operator_client.get(URL, {"created_from": "2026-11-21T12:00:00+07:00"})) == [late, noon]
    assert _ids(operator_client.get(URL, {"created_to": "2026-11-21T05:00:00"})) == [noon, early]


def test_filters_combine(failures, operator_client):
    day = datetime(2026, 11, 21, 10, tzinfo=UTC)
    [wanted] = failures([day], cause_tag="customer_cancelled")
    failures([day - timedelta(days=2)], cause_tag="customer_cancelled")
    failures([day], cause_tag="no_mitra_available")

    response = operator_client.get(URL, {"cause_tags": "customer_cancelled", "created_from": "2026-11-21", "created_to": "2026-11-21"})

    assert _ids(response) == [wanted]


@pytest.mark.parametrize(
    "params",
    [
        {"cause_tags": "no_mitra_available,bogus"},
        {"cause_tags": "refunded"},
        {"created_from": "yesterday"},
        {"created_to": "21-11-2026"},
        {"created_from": "2026-13-01"},
        {"created_to": "2026-02-30"},
        {"created_from": "2026-11-21T25:00:00"},
    ],
)
def test_a_bad_cause_tag_or_date_is_400_invalid_input(params, failures, operator_client):
    failures([datetime(2026, 11, 21, tzinfo=UTC)])

    response = operator_client.get(URL, params)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_input"
    assert set(body["errors"]) == set(params)


# --- who may read it ----------------------------------------------------------------------
def test_customers_and_mitras_are_403_and_anonymous_401(failures, customer_client, mitra_client, anon_client):
    failures([datetime(2026, 11, 21, tzinfo=UTC)])

    for client in (customer_client, mitra_client):
        response = client.get(URL)
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert anon_client.get(URL).status_code == 401
    assert PairingFailure.objects.count() == 1
