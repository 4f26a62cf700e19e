"""The control center's Mitra page and its live JSON (SPEC §8, SPEC §12): each mitra's
status, connection, load and rating; creating a mitra from the page; the query count."""

from __future__ import annotations

import re

import pytest

from accounts.models import MitraProfile, User
from control_center.tests.page_reading import fragment_text as _text
from control_center.tests.page_reading import page_html as _html
from control_center.tests.page_reading import page_messages as _messages
from control_center.tests.page_reading import table_cells as _table
from control_center.tests.page_reading import MITRAS, MITRAS_JSON
from realtime.presence import presence_beat

pytestmark = pytest.mark.django_db


# ``active_session`` (Ayu and Bestie Sekar, matched) and ``chat``: control_center/tests/conftest.py


def test_the_mitra_page_and_its_json_show_status_connection_and_load(cc, active_session, make_mitra):
    # given: Bestie Sekar online with one session and a live socket; Bestie Ana offline
    busy = active_session.mitra
    presence_beat(busy.id, "specific.test!channel")
    idle = make_mitra(display_name="Bestie Ana")

    # when
    page = cc.get(MITRAS)
    data = cc.get(MITRAS_JSON)

    # then
    assert page.status_code == 200
    header, rows = _table(page, "mitra-table")
    assert header == ["Mitra", "Login", "Status", "Connected", "Active sessions / capacity", "Rating", "Ratings", "Account"]
    assert rows == [
        ["Bestie Ana", idle.email, "offline", "not connected", "0 / 1", "—", "0", "Suspension… · Erase…"],
        ["Bestie Sekar", busy.email, "online", "connected", "1 / 1", "—", "0", "Suspension… · Erase…"],
    ]
    assert data.status_code == 200
    profiles = {p.user_id: p for p in MitraProfile.objects.all()}
    assert data.json() == {
        "mitras": [
            {
                "id": str(user.id), "display_name": name, "login": user.email, "status": status, "connected": connected,
                "active_sessions": active, "capacity": 1, "status_changed_at": profiles[user.id].status_changed_at.isoformat(),
                "rating_average": None, "rating_count": 0, "rating_label": "—", "suspended": False,
                "suspension_url": f"/admin/users/{user.id}/suspension",
                "erased": False, "erasure_url": f"/admin/mitras/{user.id}/erasure",
            }
            for user, name, status, connected, active in [
                (idle, "Bestie Ana", "offline", False, 0), (busy, "Bestie Sekar", "online", True, 1)
            ]
        ]
    }


def test_the_mitra_page_creates_a_mitra(cc, client):
    response = cc.post(MITRAS, {"display_name": "Bestie Baru", "email": "Baru@Example.test", "phone": "", "password": "curhat-demo-123"}, follow=True)

    assert response.redirect_chain == [(MITRAS, 302)]
    assert _messages(response) == [("success", "Mitra Bestie Baru created (offline until they go online).")]
    user = User.objects.get(email="baru@example.test")
    assert (user.role, user.is_staff, user.mitra_profile.display_name, user.mitra_profile.status) == ("mitra", False, "Bestie Baru", "offline")
    assert ["Bestie Baru", "baru@example.test", "offline", "not connected", "0 / 1", "—", "0", "Suspension… · Erase…"] in _table(response, "mitra-table")[1]
    token = client.post("/api/auth/token", {"login": "baru@example.test", "password": "curhat-demo-123"}, content_type="application/json")
    assert (token.status_code, token.json()["role"]) == (200, "mitra")


def test_a_duplicate_email_shows_an_error_and_creates_nothing(cc, make_mitra):
    make_mitra(email="sekar@example.test")
    users = list(User.objects.order_by("id").values_list("id", flat=True))

    response = cc.post(MITRAS, {"display_name": "Bestie Kembar", "email": "SEKAR@example.test", "password": "curhat-demo-123"})

    assert response.status_code == 400
    errors = re.search(r'<form method="post" action="/admin/mitras/".*?</form>', _html(response), re.S).group(0)
    assert [_text(e) for e in re.findall(r'<div class="cc-errors" role="alert">(.*?)</div>', errors, re.S)] == [
        "An account with this phone number or email already exists."
    ]
    assert list(User.objects.order_by("id").values_list("id", flat=True)) == users
    assert not MitraProfile.objects.filter(display_name="Bestie Kembar").exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"display_name": "Bestie", "password": "curhat-demo-123"}, "Give an email or a phone number."),
        ({"display_name": "Bestie", "email": "b@example.test", "password": "short"}, "Ensure this value has at least 8 characters (it has 5)."),
        ({"display_name": "Bestie", "email": "b@example.test", "password": "password123"}, "This password is too common."),
    ],
)
def test_an_invalid_mitra_form_creates_nothing(data, error, cc):
    users = User.objects.count()

    response = cc.post(MITRAS, data)

    assert response.status_code == 400
    assert error in [_text(e) for e in re.findall(r'<div class="cc-errors" role="alert">(.*?)</div>', _html(response), re.S)]
    assert User.objects.count() == users


# --- ratings (SPEC §12) ---------------------------------------------------------------------
def _rated(chat, mitra, stars: list[int], make_customer) -> None:
    """``stars`` ratings of ``mitra``: one completed session each, rated by its customer."""
    from safety.services import rating_create

    for value in stars:
        customer = make_customer()
        session = chat(customer=customer, mitra=mitra, status="completed")
        rating_create(customer=customer, chat_session_id=session.id, stars=value, comment="makasih")


def test_the_mitra_page_shows_each_mitras_rating_average_and_count(cc, chat, make_mitra, make_customer, settings_now):
    # given: Sekar rated 5, 4, 4 and busy in a session (capacity 2); Ana rated 3, 4; Citra unrated
    settings_now(max_customers_per_mitra=2)
    sekar = make_mitra(display_name="Bestie Sekar")
    _rated(chat, sekar, [5, 4, 4], make_customer)
    chat(customer=make_customer(), mitra=sekar)  # active
    ana = make_mitra(display_name="Bestie Ana")
    _rated(chat, ana, [3, 4], make_customer)
    make_mitra(display_name="Bestie Citra")

    # when
    page = cc.get(MITRAS)
    data = {m["display_name"]: m for m in cc.get(MITRAS_JSON).json()["mitras"]}

    # then: ratings are counted on their own, not multiplied by the sessions
    rows = {row[0]: row for row in _table(page, "mitra-table")[1]}
    assert {name: (row[4], row[5], row[6]) for name, row in rows.items()} == {
        "Bestie Ana": ("0 / 2", "3.5 ★", "2"),
        "Bestie Citra": ("0 / 2", "—", "0"),
        "Bestie Sekar": ("1 / 2", "4.3 ★", "3"),
    }
    assert {name: (m["active_sessions"], m["rating_average"], m["rating_count"], m["rating_label"]) for name, m in data.items()} == {
        "Bestie Ana": (0, 3.5, 2, "3.5 ★"),
        "Bestie Citra": (0, None, 0, "—"),
        "Bestie Sekar": (1, 4.33, 3, "4.3 ★"),
    }


def test_a_half_star_average_rounds_up_on_the_page(cc, chat, make_mitra, make_customer):
    mitra = make_mitra(display_name="Bestie Dewi")
    _rated(chat, mitra, [4, 5, 4, 4], make_customer)  # 4.25

    assert _table(cc.get(MITRAS), "mitra-table")[1][0][5] == "4.3 ★"


@pytest.mark.parametrize("mitras", [5, 60])
def test_the_mitra_page_costs_the_same_number_of_queries_for_5_or_60_mitras(
    mitras, cc, chat, make_mitra, make_customer, django_assert_num_queries
):
    # given: every third mitra rated twice, every fourth in a session
    for index in range(mitras):
        mitra = make_mitra()
        if index % 3 == 0:
            _rated(chat, mitra, [5, 3], make_customer)
        if index % 4 == 0:
            chat(customer=make_customer(), mitra=mitra)

    # when / then: session, user, the setting, the mitras (sessions counted, ratings in
    # subqueries), and the admin base template's two permission reads
    with django_assert_num_queries(6):
        response = cc.get(MITRAS)
    assert len(_table(response, "mitra-table")[1]) == mitras
    with django_assert_num_queries(3):
        assert len(cc.get(MITRAS_JSON).json()["mitras"]) == mitras
