"""Operators erase a mitra from the control center (SPEC §13: "mitras are erased by
operators"; issue 13 item 3), with Django's test client: a reason, then a confirmation
that says what goes and what stays; ``privacy.services.mitra_erase`` decides (refused
while a session of theirs is live; only mitras) and keeps who, when and why in the
audit row; the Mitra page links to it and marks erased mitras."""

from __future__ import annotations

import pytest

from accounts.models import MitraStatus, User
from chat.models import Message
from control_center.tests.page_reading import page_html, page_messages, table_cells
from pairing.models import ChatStatus
from privacy.models import AccountErasure

pytestmark = pytest.mark.django_db

MITRAS = "/admin/mitras/"
REASON = "Berhenti jadi mitra dan minta datanya dihapus"


def _url(user) -> str:
    return f"/admin/mitras/{user.id}/erasure"


def _state(user) -> tuple:
    user = User.objects.select_related("mitra_profile").get(pk=user.pk)
    return (
        (user.email, user.phone, user.is_active, user.has_usable_password(), user.mitra_profile.display_name, user.mitra_profile.status),
        list(AccountErasure.objects.filter(user=user).values_list("erased_by_id", "reason")),
        list(Message.objects.filter(sender_user=user).values_list("id", "text", "purged_at")),
    )


def test_erasing_takes_a_reason_then_a_confirmation_that_says_what_goes_and_stays(cc, operator, chat):
    # given: Bestie Sekar finished a chat in which she wrote two messages
    session = chat(lines=[("customer", "aku capek"), ("mitra", "aku di sini"), ("mitra", "cerita pelan-pelan ya")], status=ChatStatus.COMPLETED)
    mitra = session.mitra
    before = _state(mitra)

    # when: the first step
    first = cc.post(_url(mitra), {"reason": REASON})

    # then: a confirmation, and nothing has changed yet
    assert first.status_code == 200
    html = page_html(first)
    assert 'id="erasure-confirm"' in html and "This cannot be undone" in html
    assert '<strong data-field="confirm-messages">2</strong>' in html
    assert "Kept for accounting: 1 session," in html
    assert f'<q data-field="confirm-reason">{REASON}</q>' in html
    assert _state(mitra) == before

    # when: confirmed
    done = cc.post(_url(mitra), {"reason": REASON, "confirm": "yes"})

    # then: erased as SPEC §13 says, audited with the operator and the reason
    assert done.status_code == 302 and done["Location"] == _url(mitra)
    (email, phone, active, usable, name, status), audit, messages = _state(mitra)
    assert email.endswith("@erased.invalid") and "example.test" not in email
    assert (phone, active, usable, name, status) == (None, False, False, "Bestie", MitraStatus.OFFLINE)
    assert audit == [(operator.id, REASON)]
    assert [(text, purged is not None) for _, text, purged in messages] == [("", True), ("", True)]
    # the customer's line is theirs: their own erasure or the retention purge takes it
    assert Message.objects.filter(sender_user=session.customer).values_list("text", flat=True).get() == "aku capek"

    page = cc.get(_url(mitra))
    assert page_messages(page) == [("success", "Bestie Sekar is erased: their personal data is gone; the accounting rows stay.")]
    _, rows = table_cells(page, "erasure-record")
    assert rows[0][1:] == [str(operator), REASON]
    assert 'id="erasure-form"' not in page_html(page)


def test_the_mitra_page_links_to_erasure_and_marks_erased_mitras(cc, operator, make_mitra):
    kept, leaving = make_mitra(display_name="Bestie Ada"), make_mitra(display_name="Bestie Pamit")
    cc.post(_url(leaving), {"reason": REASON, "confirm": "yes"})

    page = cc.get(MITRAS)
    html = page_html(page)
    kept_row = html.split(f'data-mitra="{kept.id}"')[1].split("</tr>")[0]
    erased_row = html.split(f'data-mitra="{leaving.id}"')[1].split("</tr>")[0]
    assert f'href="{_url(kept)}">Erase…</a>' in kept_row and "cc-erased" not in kept_row
    assert "Bestie Pamit" not in html.split('id="mitra-table"')[1]  # the name itself is gone
    assert '<span class="cc-badge cc-erased">erased</span>' in erased_row and f'href="{_url(leaving)}">Erasure record</a>' in erased_row
    assert "Suspension…" not in erased_row

    live = {row["id"]: row for row in cc.get(f"{MITRAS}live.json").json()["mitras"]}
    assert (live[str(kept.id)]["erased"], live[str(leaving.id)]["erased"]) == (False, True)
    assert live[str(leaving.id)]["erasure_url"] == _url(leaving)


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
def test_a_missing_or_too_long_reason_erases_nothing(reason, cc, make_mitra):
    mitra = make_mitra(display_name="Bestie Sekar")
    before = _state(mitra)

    for data in ({"reason": reason}, {"reason": reason, "confirm": "yes"}):
        response = cc.post(_url(mitra), data)
        assert response.status_code == 400
        assert 'id="field-reason"' in page_html(response) and 'role="alert"' in page_html(response)
    assert _state(mitra) == before


@pytest.mark.parametrize("status", [ChatStatus.ACTIVE, ChatStatus.CLOSING])
def test_a_mitra_with_a_live_session_is_not_erased(status, cc, chat):
    session = chat(lines=[("mitra", "halo")], status=status)
    mitra = session.mitra
    before = _state(mitra)

    page = cc.get(_url(mitra))
    assert 'id="erasure-blocked"' in page_html(page) and 'id="erasure-form"' not in page_html(page)

    # a confirmation posted anyway (an old tab): the service refuses
    response = cc.post(_url(mitra), {"reason": REASON, "confirm": "yes"})
    assert response.status_code == 409
    assert page_messages(response) == [("error", "Not erased: This mitra has a session waiting, active or closing; erase them once it has ended.")]
    assert _state(mitra) == before


def test_a_returning_request_waiting_for_the_erased_mitra_ends_as_offline(cc, chat, online_mitra, confirmed_payment, api_client_for):
    """An offer is not a session of theirs: the erasure goes ahead and the customer's
    request ends as if the mitra had gone offline (a failure row for operators)."""
    from failed_pairings.models import CauseTag, PairingFailure
    from pairing.models import ChatSession

    mitra = online_mitra(display_name="Bestie Sekar")
    customer = chat(mitra=mitra, status=ChatStatus.COMPLETED).customer
    paid = confirmed_payment(customer, targeted_mitra=mitra)
    started = api_client_for(customer).post(
        "/api/client/chat/returning", {"payment_session_id": str(paid.id), "mitra_id": str(mitra.id), "sensitive": False}, format="json"
    )
    assert started.status_code == 201, started.content

    response = cc.post(_url(mitra), {"reason": REASON, "confirm": "yes"})

    assert response.status_code == 302
    assert ChatSession.objects.get(id=started.json()["id"]).status == ChatStatus.UNMATCHED
    assert list(PairingFailure.objects.filter(payment_session=paid).values_list("cause_tag", flat=True)) == [CauseTag.TARGETED_MITRA_OFFLINE]


def test_erasing_twice_is_refused_and_keeps_the_first_record(cc, operator, make_operator, make_mitra):
    mitra = make_mitra()
    cc.post(_url(mitra), {"reason": REASON, "confirm": "yes"})
    first = _state(mitra)

    other = make_operator()
    cc.force_login(other)
    response = cc.post(_url(mitra), {"reason": "again", "confirm": "yes"})

    assert response.status_code == 409
    assert page_messages(response)[-1] == ("error", "Not erased: This mitra is erased already.")
    assert _state(mitra) == first and first[1] == [(operator.id, REASON)]


def test_only_mitras_have_an_erasure_page(cc, make_customer, operator):
    customer = make_customer()
    assert cc.get(_url(customer)).status_code == 404
    assert cc.post(_url(customer), {"reason": REASON, "confirm": "yes"}).status_code == 404
    assert cc.get(_url(operator)).status_code == 404
    assert User.objects.get(pk=customer.pk).is_active


@pytest.mark.parametrize("role", ["anonymous", "customer", "mitra"])
def test_only_operators_reach_the_erasure_page(role, client, make_customer, make_mitra):
    mitra = make_mitra()
    if role != "anonymous":
        client.force_login(make_customer() if role == "customer" else make_mitra())
    before = _state(mitra)

    for response in (client.get(_url(mitra)), client.post(_url(mitra), {"reason": REASON, "confirm": "yes"})):
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert _state(mitra) == before
