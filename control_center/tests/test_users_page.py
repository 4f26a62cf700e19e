"""The control center's Users page (SPEC §8): operators see each customer's call name,
email and phone."""

from __future__ import annotations

import pytest

from control_center.tests.page_reading import changelist_rows as _result_rows
from control_center.tests.page_reading import USERS

pytestmark = pytest.mark.django_db


def test_operators_see_customers_call_name_email_and_phone(cc, make_customer):
    make_customer(call_name="Ayu", email="ayu.rahasia@example.test", phone="081234567890")
    make_customer(call_name="Budi", email="budi@example.test")

    response = cc.get(USERS)

    assert response.status_code == 200
    rows = {row["call_name"]: row for row in _result_rows(response).values()}
    assert {name: (row["email"], row["phone"]) for name, row in rows.items()} == {
        "Ayu": ("ayu.rahasia@example.test", "+6281234567890"),
        "Budi": ("budi@example.test", "—"),
    }
