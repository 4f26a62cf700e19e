"""Operator actions on failed pairings (SPEC §7, API.md "Operators"): the same service
behind ``POST /internal/failed-pairings/{id}/action`` (operator JWT or the control-center
session cookie) and the page form ``POST /admin/failed-pairings/{id}/action``.

An action is final; a money action (refunded / credited) is allowed once per payment and
only when the payment was neither consumed in the end nor still usable. Every refusal
changes nothing: no failure row, no audit row, no payment."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from control_center.tests.page_reading import page_messages
from failed_pairings.models import PairingFailure, PairingFailureAction
from pairing import returning as returning_services
from pairing import answers, attempts
from pairing.lifecycle import chat_end
from pairing.models import ChatSession, EndedBy
from payments import services as payment_services
from payments.models import PaymentEvent, PaymentSession, PaymentStatus, Transaction

API = "/internal/failed-pairings/{}/action"
PAGE = "/admin/failed-pairings/"
PAGE_ACTION = "/admin/failed-pairings/{}/action"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"

CONSUMED_DETAIL = "The payment was used for a session in the end; nothing to refund."
USABLE_DETAIL = "The payment can still be used for a chat until it expires; refund or credit it after that."
OTHER_ROW_DETAIL = "Another row of this payment was already refunded or credited."


# --- state and stories ------------------------------------------------------------------
def _state() -> dict:
    """Everything an operator action may touch."""
    return {
        "failures": sorted(
            PairingFailure.objects.values_list("id", "operator_action", "actioned_by_id", "actioned_at", "note")
        ),
        "actions": list(
            PairingFailureAction.objects.order_by("id").values_list("failure_id", "action", "note", "actor_id", "payment_status")
        ),
        "payments": sorted(PaymentSession.objects.values_list("id", "status", "updated_at")),
        "payment_events": PaymentEvent.objects.count(),
        "transactions": Transaction.objects.count(),
    }


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _completed_session(customer, mitra, confirmed_payment) -> ChatSession:
    """A finished chat of ``customer`` with ``mitra`` (so "Curhat lagi" is possible)."""
    payment = confirmed_payment(customer)
    attempt = attempts.chat_start(customer=customer, payment_id=payment.id, sensitive=False)
    answers.chat_request_accept(mitra=mitra, chat_session_id=attempt.id)
    return chat_end(user=customer, chat_session_id=attempt.id, ended_by=EndedBy.CUSTOMER)


@pytest.fixture
def blast_failure(make_customer, confirmed_payment):
    """``blast_failure()`` → the failure row of a paid blast that found nobody (payment
    ``failed_pairing``, refundable)."""

    def make(*, call_name: str = "Ayu", amount: int = 50_000) -> PairingFailure:
        customer = make_customer(call_name=call_name)
        payment = confirmed_payment(customer, amount=amount)
        attempt = attempts.chat_start(customer=customer, payment_id=payment.id, sensitive=False)
        assert attempt.status == "unmatched"
        return PairingFailure.objects.get(chat_session=attempt)

    return make


@pytest.fixture
def returning_story(make_customer, online_mitra, confirmed_payment):
    """``returning_story(fallback)`` → (customer, mitra, payment, rejected row): a "Curhat
    lagi" that the targeted mitra declined (payment stays confirmed), then:

    - ``fallback=None``: nothing more (the payment is still usable),
    - ``"matched"``: "Chat dengan bestie lain" and the same mitra accepts the blast (consumed),
    - ``"unmatched"``: the mitra went offline, the blast finds nobody (failed_pairing,
      a second failure row on the same payment)."""

    def make(fallback: str | None):
        customer = make_customer(call_name="Ayu")
        mitra = online_mitra(display_name="Bestie Sekar")
        _completed_session(customer, mitra, confirmed_payment)
        payment = confirmed_payment(customer, amount=90_000, minutes=60, targeted_mitra=mitra)
        outcome = returning_services.chat_returning_start(customer=customer, payment_id=payment.id, mitra_id=mitra.id, sensitive=False)
        answers.chat_request_decline(mitra=mitra, chat_session_id=outcome.session.id)
        rejected = PairingFailure.objects.get(chat_session=outcome.session)
        assert rejected.cause_tag == "targeted_mitra_rejected"
        if fallback == "unmatched":
            answers.mitra_status_set(mitra=mitra, status="offline")
        if fallback is not None:
            blast = returning_services.chat_fallback_to_blast(customer=customer, chat_session_id=outcome.session.id)
            if fallback == "matched":
                answers.chat_request_accept(mitra=mitra, chat_session_id=blast.id)
        payment.refresh_from_db()
        expected = {None: "confirmed", "matched": "consumed", "unmatched": "failed_pairing"}[fallback]
        assert payment.status == expected
        return customer, mitra, payment, rejected

    return make


# --- clients ----------------------------------------------------------------------------
# ``operator`` and ``cc`` (the control center logged in as ``operator``): control_center/tests/conftest.py
@pytest.fixture(params=["jwt", "session_cookie"])
def api(request, operator, api_client_for):
    """The operator on ``/internal/``: by JWT, or by the control-center session cookie
    (an APIClient does not enforce CSRF, as a same-origin page with the token would pass)."""
    if request.param == "jwt":
        return api_client_for(operator)
    client = APIClient()
    client.force_login(operator)
    client.user = operator
    return client


def _act(client, failure_id, action: str, note: str | None = None):
    body = {"action": action} if note is None else {"action": action, "note": note}
    return client.post(API.format(failure_id), body, format="json")


def _page_act(client, failure_id, action: str, note: str = "", return_to: str = PAGE):
    return client.post(PAGE_ACTION.format(failure_id), {"action": action, "note": note, "return_to": return_to}, follow=True)


def _failure_body(failure: PairingFailure, *, operator, action, note, payment_status, mitra=None) -> dict:
    failure.refresh_from_db()
    return {
        "id": str(failure.id),
        "created_at": _iso(failure.created_at),
        "customer": {"id": str(failure.customer_id), "call_name": "Ayu"},
        "targeted_mitra": None if mitra is None else {"id": str(mitra.id), "display_name": mitra.mitra_profile.display_name},
        "cause_tag": failure.cause_tag,
        "amount": failure.amount,
        "payment_session_id": str(failure.payment_session_id),
        "payment_status": payment_status,
        "operator_action": action,
        "actioned_by": operator.email,
        "actioned_at": _iso(failure.actioned_at),
        "note": note,
        "refund_error": None,
    }


# --- no_action ----------------------------------------------------------------------------
@pytest.mark.parametrize("story", ["blast_failed", "still_confirmed", "consumed_in_the_end"])
def test_no_action_is_accepted_on_any_row_and_audited(story, api, operator, blast_failure, returning_story):
    # given: a row whatever its payment became
    if story == "blast_failed":
        failure, mitra, payment_status = blast_failure(), None, "failed_pairing"
    else:
        _, mitra, _, failure = returning_story(None if story == "still_confirmed" else "matched")
        payment_status = "confirmed" if story == "still_confirmed" else "consumed"
    before = timezone.now()

    # when
    response = _act(api, failure.id, "no_action", "Checked with the customer")

    # then
    after = timezone.now()
    assert response.status_code == 200, response.json()
    assert response.json() == _failure_body(
        failure, operator=operator, action="no_action", note="Checked with the customer", payment_status=payment_status, mitra=mitra
    )
    assert (failure.operator_action, failure.actioned_by_id, failure.note) == ("no_action", operator.id, "Checked with the customer")
    assert before <= failure.actioned_at <= after
    assert list(PairingFailureAction.objects.values_list("failure_id", "action", "note", "actor_id", "payment_status")) == [
        (failure.id, "no_action", "Checked with the customer", operator.id, payment_status)
    ]
    assert PaymentSession.objects.get(pk=failure.payment_session_id).status == payment_status


def test_a_note_is_optional(api, operator, blast_failure):
    failure = blast_failure()

    response = _act(api, failure.id, "no_action")

    assert (response.status_code, response.json()["note"], response.json()["operator_action"]) == (200, "", "no_action")
    assert list(PairingFailureAction.objects.values_list("action", "note", "actor_id")) == [("no_action", "", operator.id)]


# --- final once set -------------------------------------------------------------------------
@pytest.mark.parametrize(("first", "second"), [("no_action", "no_action"), ("no_action", "refunded"), ("refunded", "no_action"), ("credited", "refunded")])
def test_a_second_action_on_the_same_row_is_409_already_actioned(first, second, api, blast_failure):
    # given: the row was actioned
    failure = blast_failure()
    assert _act(api, failure.id, first).status_code == 200
    before = _state()

    # when
    response = _act(api, failure.id, second, "changed my mind")

    # then
    assert response.status_code == 409
    assert response.json() == {
        "code": "already_actioned", "detail": f"This row was already marked {first}.", "operator_action": first,
    }
    assert _state() == before


# --- money actions ------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["refunded", "credited"])
def test_a_money_action_on_a_failed_pairing_payment_is_accepted(action, api, operator, blast_failure):
    # given: a blast found nobody; the payment is failed_pairing
    failure = blast_failure(amount=90_000)

    # when
    response = _act(api, failure.id, action, "BCA transfer 123")

    # then
    assert response.status_code == 200, response.json()
    assert response.json() == _failure_body(failure, operator=operator, action=action, note="BCA transfer 123", payment_status="failed_pairing")
    assert list(PairingFailureAction.objects.values_list("failure_id", "action", "note", "actor_id", "payment_status")) == [
        (failure.id, action, "BCA transfer 123", operator.id, "failed_pairing")
    ]
    # recording the action moves no money by itself: the payment is unchanged
    assert PaymentSession.objects.get(pk=failure.payment_session_id).status == "failed_pairing"


@pytest.mark.parametrize("action", ["refunded", "credited"])
def test_a_money_action_is_409_when_the_fallback_blast_consumed_the_payment(action, api, returning_story):
    # given: the targeted mitra declined, then the fallback blast matched on the same payment
    _, _, payment, rejected = returning_story("matched")
    before = _state()

    # when
    response = _act(api, rejected.id, action)

    # then
    assert response.status_code == 409
    assert response.json() == {"code": "money_action_not_allowed", "detail": CONSUMED_DETAIL, "payment_status": "consumed"}
    assert _state() == before


def test_a_money_action_is_409_while_the_payment_is_still_usable(api, returning_story):
    # given: the targeted mitra declined; the customer may still use the payment
    _, _, payment, rejected = returning_story(None)
    before = _state()

    # when
    response = _act(api, rejected.id, "refunded")

    # then
    assert response.status_code == 409
    assert response.json() == {"code": "money_action_not_allowed", "detail": USABLE_DETAIL, "payment_status": "confirmed"}
    assert _state() == before


def test_a_money_action_on_the_second_row_of_the_same_payment_is_409(api, operator, returning_story):
    # given: the targeted mitra declined, the fallback blast found nobody → two rows, one payment
    _, _, payment, rejected = returning_story("unmatched")
    unmatched = PairingFailure.objects.get(payment_session=payment, cause_tag="no_mitra_available")
    assert _act(api, unmatched.id, "refunded").status_code == 200
    before = _state()

    # when: a money action on the other row of the same payment
    for action in ("refunded", "credited"):
        response = _act(api, rejected.id, action)

        # then
        assert response.status_code == 409
        assert response.json() == {"code": "money_action_not_allowed", "detail": OTHER_ROW_DETAIL, "payment_status": "failed_pairing"}
        assert _state() == before

    # and the row may still be closed without money
    assert _act(api, rejected.id, "no_action").status_code == 200
    assert list(PairingFailureAction.objects.order_by("id").values_list("failure_id", "action", "actor_id")) == [
        (unmatched.id, "refunded", operator.id), (rejected.id, "no_action", operator.id)
    ]


def test_a_payment_that_expired_unused_becomes_refundable_once(api, operator, make_customer, online_mitra, confirmed_payment):
    # given: "Curhat lagi" to an offline mitra (row, payment stays confirmed) ...
    customer = make_customer(call_name="Ayu")
    mitra = online_mitra()
    _completed_session(customer, mitra, confirmed_payment)
    answers.mitra_status_set(mitra=mitra, status="offline")
    payment = confirmed_payment(customer, targeted_mitra=mitra)
    outcome = returning_services.chat_returning_start(customer=customer, payment_id=payment.id, mitra_id=mitra.id, sensitive=False)
    assert outcome.unavailable_cause == "targeted_mitra_offline"
    offline = PairingFailure.objects.get(payment_session=payment)
    before = _state()
    assert _act(api, offline.id, "refunded").json()["code"] == "money_action_not_allowed"
    assert _state() == before

    # ... and the customer never used it: the sweeper expires it and writes its own row
    payment.refresh_from_db()
    assert payment_services.payments_sweep(now=payment.expires_at + timedelta(minutes=1)) == [payment.id]
    expired = PairingFailure.objects.get(payment_session=payment, cause_tag="payment_expired_unused")

    # when / then: one money action, on whichever row, and not a second
    assert _act(api, expired.id, "refunded").status_code == 200
    before = _state()
    response = _act(api, offline.id, "credited")
    assert (response.status_code, response.json()["detail"], response.json()["payment_status"]) == (409, OTHER_ROW_DETAIL, "expired")
    assert _state() == before


@pytest.mark.django_db(transaction=True)
def test_concurrent_money_actions_on_two_rows_of_one_payment_let_exactly_one_win(make_customer, confirmed_payment, make_operator, api_client_for):
    # given: one refundable payment with two failure rows, two operators
    customer = make_customer(call_name="Ayu")
    payment = confirmed_payment(customer)
    PaymentSession.objects.filter(pk=payment.pk).update(status=PaymentStatus.FAILED_PAIRING)
    rows = PairingFailure.objects.bulk_create(
        [
            PairingFailure(customer=customer, cause_tag=cause, amount=payment.amount, payment_session=payment)
            for cause in ("targeted_mitra_rejected", "no_mitra_available")
        ]
    )
    clients = [api_client_for(make_operator()), api_client_for(make_operator())]
    barrier = threading.Barrier(2)
    results: dict[int, tuple] = {}

    def run(i: int, action: str) -> None:
        try:
            barrier.wait(timeout=10)
            response = _act(clients[i], rows[i].id, action)
            results[i] = (response.status_code, response.json().get("code"))
        finally:
            connection.close()

    # when: both at the same instant, each on its own row and its own connection
    threads = [threading.Thread(target=run, args=(0, "refunded")), threading.Thread(target=run, args=(1, "credited"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then: exactly one money action for the payment, audited once
    assert sorted(results.values(), key=lambda r: r[0]) == [(200, None), (409, "money_action_not_allowed")]
    winner = next(i for i, (code, _) in results.items() if code == 200)
    assert list(PairingFailure.objects.exclude(operator_action="").values_list("id", "operator_action", "actioned_by_id")) == [
        (rows[winner].id, ["refunded", "credited"][winner], clients[winner].user.id)
    ]
    assert list(PairingFailureAction.objects.values_list("failure_id", "actor_id", "payment_status")) == [
        (rows[winner].id, clients[winner].user.id, "failed_pairing")
    ]


# --- bad requests and access ---------------------------------------------------------------------
@pytest.mark.parametrize("body", [{"action": "refund"}, {"action": ""}, {}, {"action": "no_action", "note": "x" * 2001}])
def test_a_bad_body_is_400(body, api, blast_failure):
    failure = blast_failure()
    before = _state()

    response = api.post(API.format(failure.id), body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert _state() == before


def test_an_unknown_action_names_the_field(api, blast_failure):
    failure = blast_failure()

    response = _act(api, failure.id, "refund")

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_input",
        "detail": 'action: "refund" is not a valid choice.',
        "errors": {"action": ['"refund" is not a valid choice.']},
    }


def test_an_unknown_id_is_404(api, blast_failure):
    blast_failure()
    before = _state()

    response = _act(api, UNKNOWN_ID, "no_action")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Failed pairing not found."}
    assert _state() == before


@pytest.mark.parametrize("role", ["customer", "mitra"])
def test_customers_and_mitras_are_403(role, blast_failure, make_customer, make_mitra, api_client_for):
    failure = blast_failure()
    # the failure's own customer too: it is an operator's decision
    user = failure.customer if role == "customer" else make_mitra()
    before = _state()

    response = _act(api_client_for(user), failure.id, "refunded")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert _state() == before


def test_a_customer_session_cookie_is_403_too(blast_failure):
    failure = blast_failure()
    client = APIClient()
    client.force_login(failure.customer)
    before = _state()

    response = _act(client, failure.id, "no_action")

    assert response.status_code == 403
    assert _state() == before


def test_anonymous_is_401(anon_client, blast_failure):
    failure = blast_failure()
    before = _state()

    response = _act(anon_client, failure.id, "no_action")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert _state() == before


def test_the_session_cookie_without_a_csrf_token_is_refused(operator, blast_failure):
    # given: a browser request riding on the operator's cookie, without the CSRF token
    failure = blast_failure()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(operator)
    before = _state()

    response = _act(client, failure.id, "refunded")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "CSRF" in response.json()["detail"]
    assert _state() == before


# --- the page form ---------------------------------------------------------------------------------
def test_the_page_form_records_no_action_and_shows_the_message(cc, operator, blast_failure):
    # given
    failure = blast_failure()

    # when
    response = _page_act(cc, failure.id, "no_action", "Customer chose to wait")

    # then: back on the list, which says so and now shows the row as locked
    assert response.redirect_chain == [(PAGE, 302)]
    assert response.status_code == 200
    assert page_messages(response) == [("success", "Mark as no-action: saved. The row is now locked.")]
    failure.refresh_from_db()
    assert (failure.operator_action, failure.actioned_by_id, failure.note) == ("no_action", operator.id, "Customer chose to wait")
    assert failure.actioned_at is not None
    assert list(PairingFailureAction.objects.values_list("failure_id", "action", "note", "actor_id", "payment_status")) == [
        (failure.id, "no_action", "Customer chose to wait", operator.id, "failed_pairing")
    ]
    row = re.search(rf'<tr data-failure="{failure.id}">(.*?)</tr>', response.content.decode(), re.S).group(1)
    assert '<td data-field="operator-action">No action</td>' in row
    assert re.search(r'<td data-field="actions">\s*—\s*</td>', row)


@pytest.mark.parametrize("action", ["refunded", "credited"])
def test_the_page_form_records_a_money_action(action, cc, operator, blast_failure):
    failure = blast_failure()

    response = _page_act(cc, failure.id, action, "BCA transfer 123")

    label = {"refunded": "Mark as refunded", "credited": "Mark as credited"}[action]
    assert page_messages(response) == [("success", f"{label}: saved. The row is now locked.")]
    assert list(PairingFailureAction.objects.values_list("failure_id", "action", "note", "actor_id", "payment_status")) == [
        (failure.id, action, "BCA transfer 123", operator.id, "failed_pairing")
    ]


def test_the_page_form_refuses_a_second_action_and_changes_nothing(cc, blast_failure):
    # given
    failure = blast_failure()
    _page_act(cc, failure.id, "no_action")
    before = _state()

    # when
    response = _page_act(cc, failure.id, "refunded", "second try")

    # then
    assert response.redirect_chain == [(PAGE, 302)]
    assert page_messages(response) == [("error", "Not saved: This row was already marked no_action.")]
    assert _state() == before


@pytest.mark.parametrize(
    ("story", "detail"),
    [("matched", CONSUMED_DETAIL), (None, USABLE_DETAIL)],
    ids=["consumed_in_the_end", "still_usable"],
)
def test_the_page_form_refuses_a_money_action_the_server_does_not_allow(story, detail, cc, returning_story):
    _, _, _, rejected = returning_story(story)
    before = _state()

    response = _page_act(cc, rejected.id, "refunded")

    assert page_messages(response) == [("error", f"Not saved: {detail}")]
    assert _state() == before


def test_the_page_form_refuses_a_money_action_on_the_second_row_of_a_payment(cc, returning_story):
    _, _, payment, rejected = returning_story("unmatched")
    unmatched = PairingFailure.objects.get(payment_session=payment, cause_tag="no_mitra_available")
    _page_act(cc, unmatched.id, "credited")
    before = _state()

    response = _page_act(cc, rejected.id, "refunded")

    assert page_messages(response) == [("error", f"Not saved: {OTHER_ROW_DETAIL}")]
    assert _state() == before


def _offered(response, failure_id) -> list[str]:
    row = re.search(rf'<tr data-failure="{failure_id}">(.*?)</tr>', response.content.decode(), re.S).group(1)
    return re.findall(r'<option value="(\w+)">', row)


def test_the_page_offers_a_money_action_only_where_the_service_accepts_it_at_one_query_count(cc, blast_failure, returning_story):
    # given one refundable row
    refundable = blast_failure()
    with CaptureQueriesContext(connection) as one_row:
        first = cc.get(PAGE)
    assert _offered(first, refundable.id) == ["refunded", "credited", "no_action"]

    # when a payment with two rows gets a money action on one of them
    _, _, payment, rejected = returning_story("unmatched")
    unmatched = PairingFailure.objects.get(payment_session=payment, cause_tag="no_mitra_available")
    _page_act(cc, unmatched.id, "credited")
    with CaptureQueriesContext(connection) as three_rows:
        response = cc.get(PAGE)

    # then its other row offers no money action, and the page asks no query per row
    assert _offered(response, refundable.id) == ["refunded", "credited", "no_action"]
    assert _offered(response, rejected.id) == ["no_action"]
    assert _offered(response, unmatched.id) == []
    assert len(three_rows.captured_queries) == len(one_row.captured_queries)


@pytest.mark.parametrize("action", ["", "refund"])
def test_the_page_form_without_a_valid_action_changes_nothing(action, cc, blast_failure):
    failure = blast_failure()
    before = _state()

    response = _page_act(cc, failure.id, action)

    assert page_messages(response) == [("error", "Choose an action.")]
    assert _state() == before


def test_the_page_form_on_an_unknown_id_changes_nothing(cc, blast_failure):
    blast_failure()
    before = _state()

    response = _page_act(cc, UNKNOWN_ID, "no_action")

    assert page_messages(response) == [("error", "Not saved: Failed pairing not found.")]
    assert _state() == before


def test_the_page_form_returns_to_the_filtered_page_and_nowhere_else(cc, blast_failure):
    first, second = blast_failure(), blast_failure()
    filtered = f"{PAGE}?cause_tags=no_mitra_available&page=1"

    kept = _page_act(cc, first.id, "no_action", return_to=filtered)
    foreign = _page_act(cc, second.id, "no_action", return_to="https://evil.example/admin/failed-pairings/")

    assert kept.redirect_chain == [(filtered, 302)]
    assert foreign.redirect_chain == [(PAGE, 302)]


@pytest.mark.parametrize("role", ["customer", "mitra"])
def test_the_page_form_is_for_operators_only(role, blast_failure, make_mitra):
    failure = blast_failure()
    client = Client()
    client.force_login(failure.customer if role == "customer" else make_mitra())
    before = _state()

    response = client.post(PAGE_ACTION.format(failure.id), {"action": "refunded"})

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={PAGE_ACTION.format(failure.id)}"
    assert _state() == before


def test_the_page_form_needs_the_csrf_token(operator, blast_failure):
    failure = blast_failure()
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    before = _state()

    response = client.post(PAGE_ACTION.format(failure.id), {"action": "refunded"})

    assert response.status_code == 403
    assert _state() == before
