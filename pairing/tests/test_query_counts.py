"""Accept is a hot path: its query count does not grow with the number of mitras the
request was offered to (losers are closed and told in bulk; with no loser at all the
bulk close is skipped, one query less)."""

from __future__ import annotations

import pytest

from live_settings.selectors import config_get
from pairing.models import ChatRequestNotification, NotificationStatus

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("offered", [2, 12])
def test_accept_costs_the_same_whatever_the_number_of_offered_mitras(
    offered, online_mitra, make_customer, start_chat, api_client_for,
    django_assert_num_queries, django_capture_on_commit_callbacks,
):
    # given
    mitras = [online_mitra() for _ in range(offered)]
    _, chat = start_chat(make_customer())
    winner = api_client_for(mitras[0])
    config_get("max_customers_per_mitra")  # warm, as in a running server

    # when: the request and its after-commit work (events, the matched push, availability)
    with django_assert_num_queries(16):
        with django_capture_on_commit_callbacks(execute=True):
            response = winner.post(f"/api/mitra/chat-requests/{chat['id']}/accept")

    # then
    assert response.status_code == 200
    statuses = list(ChatRequestNotification.objects.filter(chat_session_id=chat["id"]).values_list("status", flat=True))
    assert sorted(statuses) == sorted([NotificationStatus.ACCEPTED] + [NotificationStatus.CLOSED] * (offered - 1))
