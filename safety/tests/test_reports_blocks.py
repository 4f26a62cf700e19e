"""Report and block (SPEC §12): either side reports the other once per session; a
customer blocks a mitra, who is then never offered their requests (late joiners and
blasts racing the block included) and whose returning request is refused; operators
decide reports once, with an audit trail. A mitra learns nothing about who reported or
blocked them."""

from __future__ import annotations

import asyncio

import pytest

from accounts.models import MitraStatus
from conftest import customer_secrets
from failed_pairings.models import PairingFailure
from pairing import answers
from pairing.models import ChatRequestNotification, ChatSession, NotificationStatus
from pairing.tests.live import MITRA_WS, as_text, close_sockets, off_loop, open_sockets, race, received_by_all
from safety import services
from safety.models import Block, Report, ReportAction

START = "/api/client/chat/start"
RETURNING = "/api/client/chat/returning"


def _report(client, session_id, role="client", **body):
    return client.post(f"/api/{role}/chat/{session_id}/report", {"reason": "harassment", **body}, format="json")


# --- reports ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_customer_reports_the_bestie_once_and_a_repeat_answers_the_first_report(session_between):
    session_id, customer, mitra_client_ = session_between()

    first = _report(customer, session_id, text="kata-katanya kasar")
    repeat = _report(customer, session_id, reason="spam")

    assert first.status_code == 201
    report = Report.objects.get()
    assert first.json() == {"id": str(report.id), "reason": "harassment", "status": "open", "created_at": first.json()["created_at"]}
    assert (repeat.status_code, repeat.json()) == (200, first.json())
    assert (report.reporter_role, report.reporter_id, report.reported_id) == ("customer", customer.user.id, mitra_client_.user.id)
    assert report.text == "kata-katanya kasar"


@pytest.mark.django_db
def test_the_mitra_reports_the_customer_and_learns_nothing_about_them(ayu, session_between):
    session_id, customer, mitra = session_between(customer=ayu)

    response = _report(mitra, session_id, "mitra", reason="unsafe", text="customer mengancam")

    assert response.status_code == 201
    assert set(response.json()) == {"id", "reason", "status", "created_at"}
    for secret in customer_secrets(ayu, "Ayu"):
        assert secret not in as_text(response.json())
    assert Report.objects.get().reported_id == ayu.id


@pytest.mark.django_db(transaction=True)
def test_both_sides_report_each_other_at_once(session_between):
    session_id, customer, mitra = session_between()

    results = race([lambda: _report(customer, session_id), lambda: _report(mitra, session_id, "mitra")])

    assert [r.status_code for r in results] == [201, 201]
    assert Report.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_reports_of_one_side_at_once_give_one_report(session_between):
    session_id, customer, _ = session_between()

    results = race([lambda: _report(customer, session_id, text=f"versi {i}") for i in range(6)])

    assert sorted(r.status_code for r in results) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    assert Report.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [{}, {"reason": "rude"}, {"reason": "harassment", "text": "x" * 1001}, {"reason": "spam", "block": "maybe"}, {"reason": ["spam"]}],
)
def test_a_bad_report_is_400_and_saves_nothing(session_between, body):
    session_id, customer, _ = session_between()

    response = customer.post(f"/api/client/chat/{session_id}/report", body, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_input")
    assert not Report.objects.exists() and not Block.objects.exists()


@pytest.mark.django_db
def test_only_participants_report_and_only_a_started_chat(session_between, make_customer, start_chat, api_client_for):
    session_id, _, mitra = session_between()
    stranger = api_client_for(make_customer())
    waiting_customer = make_customer()
    waiting_client, waiting = start_chat(waiting_customer)

    assert _report(stranger, session_id).status_code == 404
    assert _report(stranger, "00000000-0000-0000-0000-000000000000").status_code == 404
    refused = _report(waiting_client, waiting["id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "session_not_active")
    assert _report(mitra, session_id).status_code == 403  # the customer's path
    assert not Report.objects.exists()


# --- blocks -------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_report_with_block_blocks_and_the_customer_lists_and_unblocks(session_between):
    mitra_session, customer, mitra = session_between()

    assert _report(customer, mitra_session, block=True).status_code == 201
    listed = customer.get("/api/client/blocks")
    unblocked = customer.delete(f"/api/client/blocks/{mitra.user.id}")
    again = customer.delete(f"/api/client/blocks/{mitra.user.id}")

    assert listed.json() == {
        "results": [{"mitra": {"id": str(mitra.user.id), "display_name": "Bestie Sekar"}, "created_at": listed.json()["results"][0]["created_at"]}]
    }
    assert unblocked.status_code == 204 and again.status_code == 204
    assert customer.get("/api/client/blocks").json() == {"results": []}


@pytest.mark.django_db
def test_a_mitras_report_cannot_block(session_between):
    session_id, _, mitra = session_between()

    assert _report(mitra, session_id, "mitra", block=True).status_code == 201
    assert not Block.objects.exists()


@pytest.mark.django_db
def test_a_blocked_mitra_is_not_offered_the_customers_blast_among_hundreds(
    session_between, online_mitra, make_customer, start_chat
):
    customer = make_customer()
    blocked = []
    for _ in range(3):
        session_id, customer_client, mitra_client = session_between(customer=customer)
        assert _report(customer_client, session_id, block=True).status_code == 201
        services_end(session_id, customer_client)
        blocked.append(mitra_client.user.id)
    others = [online_mitra() for _ in range(200)]

    _, chat = start_chat(customer)
    _, someone_elses = start_chat(make_customer())

    offered = set(ChatRequestNotification.objects.filter(chat_session_id=chat["id"]).values_list("mitra_id", flat=True))
    assert offered == {m.id for m in others}
    # other customers' blasts still reach them
    assert set(blocked) <= set(ChatRequestNotification.objects.filter(chat_session_id=someone_elses["id"]).values_list("mitra_id", flat=True))


def services_end(session_id, customer_client):
    response = customer_client.post(f"/api/client/chat/{session_id}/end")
    assert response.status_code == 200, response.json()


@pytest.mark.django_db
def test_a_blocked_mitra_going_online_late_is_not_offered_the_waiting_blast(session_between, make_mitra, online_mitra, start_chat):
    session_id, customer, mitra_client = session_between()
    _report(customer, session_id, block=True)
    services_end(session_id, customer)
    answers.mitra_status_set(mitra=mitra_client.user, status=MitraStatus.OFFLINE)
    online_mitra()  # someone, so the blast waits
    _, chat = start_chat(customer.user)
    late_ok = make_mitra()

    answers.mitra_status_set(mitra=mitra_client.user, status=MitraStatus.ONLINE)
    answers.mitra_status_set(mitra=late_ok, status=MitraStatus.ONLINE)

    offered = set(ChatRequestNotification.objects.filter(chat_session_id=chat["id"]).values_list("mitra_id", flat=True))
    assert mitra_client.user.id not in offered and late_ok.id in offered


@pytest.mark.django_db
def test_a_returning_request_to_a_blocked_mitra_is_409_until_unblocked_and_no_money_is_taken_for_one(session_between, make_tier):
    session_id, customer, mitra = session_between()
    services_end(session_id, customer)
    tier = make_tier()

    def pay():
        return customer.post("/api/client/payment-sessions", {"tier_id": str(tier.id), "targeted_mitra_id": str(mitra.user.id)}, format="json")

    def returning(payment_id):
        return customer.post(RETURNING, {"payment_session_id": payment_id, "mitra_id": str(mitra.user.id)}, format="json")

    paid_before = pay().json()["id"]
    assert customer.post(f"/api/client/payment-sessions/{paid_before}/confirm").status_code == 200
    _report(customer, session_id, block=True)

    refused = returning(paid_before)
    refused_payment = pay()
    customer.delete(f"/api/client/blocks/{mitra.user.id}")
    allowed = returning(paid_before)

    assert (refused.status_code, refused.json()["code"]) == (409, "mitra_blocked")
    assert (refused_payment.status_code, refused_payment.json()["code"]) == (409, "mitra_blocked")
    assert allowed.status_code == 201, allowed.json()
    assert ChatRequestNotification.objects.filter(chat_session_id=allowed.json()["id"], mitra=mitra.user).exists()


@pytest.mark.django_db(transaction=True)
def test_a_block_withdraws_what_is_offered_now_and_the_mitra_is_told_without_a_name(ayu, session_between, online_mitra, start_chat):
    mitra = online_mitra(display_name="Bestie Sekar")
    session_id, customer, mitra_client = session_between(mitra=mitra, customer=ayu)
    services_end(session_id, customer)
    other = online_mitra()
    _, chat = start_chat(ayu)

    async def scenario():
        sockets = await open_sockets(MITRA_WS, [mitra_client])
        await off_loop(lambda: _report(customer, session_id, block=True))
        events = await received_by_all(sockets)
        await close_sockets(sockets)
        return events[0]

    events = asyncio.run(scenario())

    assert events == [{"type": "chat_request_closed", "request_id": chat["id"], "reason": "withdrawn"}]
    assert ChatRequestNotification.objects.get(chat_session_id=chat["id"], mitra=mitra).status == NotificationStatus.CLOSED
    assert ChatRequestNotification.objects.get(chat_session_id=chat["id"], mitra=other).status == NotificationStatus.OFFERED
    assert ChatSession.objects.get(id=chat["id"]).status == "waiting"
    refused = mitra_client.post(f"/api/mitra/chat-requests/{chat['id']}/accept")
    assert (refused.status_code, refused.json()["code"]) == (409, "request_unavailable")
    for secret in customer_secrets(ayu):
        assert secret not in as_text(events)


@pytest.mark.django_db
def test_a_block_of_the_only_offered_mitra_ends_the_search_as_nobody_available(session_between, start_chat):
    session_id, customer, mitra = session_between()
    services_end(session_id, customer)
    _, chat = start_chat(customer.user)

    _report(customer, session_id, block=True)

    attempt = ChatSession.objects.get(id=chat["id"])
    assert (attempt.status, attempt.failure_cause) == ("unmatched", "no_mitra_available")
    assert PairingFailure.objects.filter(chat_session=attempt, cause_tag="no_mitra_available").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(6))
def test_a_block_racing_the_blast_never_leaves_the_blocked_mitra_an_open_offer(
    round_, session_between, online_mitra, confirmed_payment, api_client_for
):
    """The block arrives while the blast is being offered: whichever commits first, the
    blocked mitra ends with no open offer of the new attempt (never offered, or withdrawn)."""
    session_id, customer, mitra = session_between()
    services_end(session_id, customer)
    others = [online_mitra() for _ in range(30)]
    payment = confirmed_payment(customer.user)
    phone, tablet = api_client_for(customer.user), api_client_for(customer.user)

    started, blocked = race(
        [
            lambda: phone.post(START, {"payment_session_id": str(payment.id), "sensitive": False}, format="json"),
            lambda: _report(tablet, session_id, block=True),
        ]
    )

    assert started.status_code == 201 and blocked.status_code == 201
    offers = dict(ChatRequestNotification.objects.filter(chat_session_id=started.json()["id"]).values_list("mitra_id", "status"))
    assert offers.get(mitra.user.id, NotificationStatus.CLOSED) == NotificationStatus.CLOSED
    assert {m.id for m in others} <= set(offers)
    assert not mitra.post(f"/api/mitra/chat-requests/{started.json()['id']}/accept").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(4))
def test_a_block_racing_a_late_joiner_never_leaves_the_blocked_mitra_an_open_offer(round_, session_between, online_mitra, start_chat):
    session_id, customer, mitra = session_between()
    services_end(session_id, customer)
    answers.mitra_status_set(mitra=mitra.user, status=MitraStatus.OFFLINE)
    online_mitra()
    _, chat = start_chat(customer.user)

    results = race(
        [
            lambda: answers.mitra_status_set(mitra=mitra.user, status=MitraStatus.ONLINE),
            lambda: _report(customer, session_id, block=True),
        ]
    )

    assert not [r for r in results if isinstance(r, BaseException)], results
    offer = ChatRequestNotification.objects.filter(chat_session_id=chat["id"], mitra=mitra.user).first()
    assert offer is None or offer.status == NotificationStatus.CLOSED


# --- operators ----------------------------------------------------------------------------------------
@pytest.fixture
def report(session_between):
    session_id, customer, _ = session_between()
    return services.report_create(user=customer.user, chat_session_id=session_id, reason="harassment", text="kasar")[0]


@pytest.mark.django_db
def test_operators_list_reports_open_first_with_who_and_what(operator_client, report, session_between):
    session_id, _, mitra = session_between()
    decided = services.report_create(user=mitra.user, chat_session_id=session_id, reason="spam")[0]
    services.report_action(report_id=decided.id, action="dismissed", actor=operator_client.user, note="no spam seen")

    body = operator_client.get("/internal/reports").json()
    only_open = operator_client.get("/internal/reports?status=open").json()

    assert [r["id"] for r in body["results"]] == [str(report.id), str(decided.id)]
    assert [r["id"] for r in only_open["results"]] == [str(report.id)]
    first = body["results"][0]
    assert {k: first[k] for k in ("reason", "status", "reporter_role", "reporter_id", "reported_id", "text", "actions")} == {
        "reason": "harassment", "status": "open", "reporter_role": "customer", "reporter_id": str(report.reporter_id),
        "reported_id": str(report.reported_id), "text": "kasar", "actions": [],
    }
    assert [(a["action"], a["note"]) for a in body["results"][1]["actions"]] == [("dismissed", "no spam seen")]


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["dismissed", "warned"])
def test_a_report_is_decided_once(operator_client, report, action):
    url = f"/internal/reports/{report.id}/action"

    decided = operator_client.post(url, {"action": action, "note": "checked the chat"}, format="json")
    again = operator_client.post(url, {"action": "suspended"}, format="json")

    assert (decided.status_code, decided.json()["status"]) == (200, action)
    assert (again.status_code, again.json()["code"]) == (409, "already_actioned")
    assert list(ReportAction.objects.values_list("action", "note")) == [(action, "checked the chat")]
    report.reported.refresh_from_db()
    assert report.reported.suspended_at is None


@pytest.mark.django_db
def test_suspended_suspends_the_reported_account(operator_client, report):
    response = operator_client.post(f"/internal/reports/{report.id}/action", {"action": "suspended", "note": "repeated harassment"}, format="json")

    assert (response.status_code, response.json()["status"]) == (200, "suspended")
    report.reported.refresh_from_db()
    assert report.reported.suspended_at is not None
    assert report.reported.suspensions.get().reason == "repeated harassment"


@pytest.mark.django_db(transaction=True)
def test_two_operators_deciding_one_report_at_once_one_wins(make_operator, api_client_for, report):
    operators = [api_client_for(make_operator()) for _ in range(4)]

    results = race([lambda c=c: c.post(f"/internal/reports/{report.id}/action", {"action": "dismissed"}, format="json") for c in operators])

    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    assert ReportAction.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"action": "open"}, {"action": "resolved"}, {"action": "warned", "note": "x" * 2001}])
def test_a_bad_decision_is_400_and_changes_nothing(operator_client, report, body):
    response = operator_client.post(f"/internal/reports/{report.id}/action", body, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_input")
    report.refresh_from_db()
    assert report.status == "open" and not ReportAction.objects.exists()


@pytest.mark.django_db
def test_only_operators_see_reports(customer_client, mitra_client, anon_client, report):
    for client, status in ((customer_client, 403), (mitra_client, 403), (anon_client, 401)):
        assert client.get("/internal/reports").status_code == status
        assert client.post(f"/internal/reports/{report.id}/action", {"action": "dismissed"}, format="json").status_code == status
