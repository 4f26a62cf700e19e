"""Message retention (SPEC §13): texts older than ``message_retention_days`` are erased
in batches by a daily task (and ``manage.py purge_messages``); the messages stay, so
receipts and history pages work, without text. Idempotent and resumable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from chat.models import Message
from chat.services import messages_purge

pytestmark = pytest.mark.django_db


def _send(client, session_id, n):
    for i in range(n):
        response = client.post(f"/api/chat/{session_id}/messages", {"client_message_id": f"m{i}", "text": f"rahasia {i}"}, format="json")
        assert response.status_code == 201, response.json()


def _age(session_id, days, *, count=None):
    """Make the session's first ``count`` messages ``days`` old (all when None)."""
    ids = list(Message.objects.filter(chat_session_id=session_id).order_by("created_at", "id").values_list("id", flat=True)[:count])
    Message.objects.filter(id__in=ids).update(created_at=timezone.now() - timedelta(days=days))
    return ids


def test_only_texts_past_the_retention_days_are_erased_and_the_messages_stay(active_chat, settings_now):
    settings_now(message_retention_days=30)
    session_id, customer, mitra = active_chat()
    _send(customer, session_id, 5)
    old = _age(session_id, 31, count=3)

    purged = messages_purge()

    assert purged == 3
    rows = {m.id: m for m in Message.objects.filter(chat_session_id=session_id)}
    assert len(rows) == 5
    assert all(rows[i].text == "" and rows[i].purged_at is not None for i in old)
    assert sorted(m.text for i, m in rows.items() if i not in old) == ["rahasia 3", "rahasia 4"]
    assert all(m.purged_at is None for i, m in rows.items() if i not in old)


def test_a_second_pass_changes_nothing(active_chat):
    session_id, customer, _ = active_chat()
    _send(customer, session_id, 2)
    _age(session_id, 91)
    messages_purge()
    stamped = dict(Message.objects.values_list("id", "purged_at"))

    assert messages_purge() == 0
    assert dict(Message.objects.values_list("id", "purged_at")) == stamped


def test_a_pass_goes_in_batches_and_a_pass_cut_short_is_finished_by_the_next(active_chat):
    session_id, customer, _ = active_chat()
    _send(customer, session_id, 7)
    _age(session_id, 100)

    assert messages_purge(batch_size=3) == 7  # 3 + 3 + 1
    Message.objects.update(text="kembali", purged_at=None)  # as if a pass had stopped before them
    assert messages_purge(batch_size=2) == 7
    assert set(Message.objects.values_list("text", flat=True)) == {""}


def test_purged_messages_still_page_and_take_receipts_without_text(active_chat):
    session_id, customer, mitra = active_chat()
    _send(customer, session_id, 3)
    _age(session_id, 100)
    messages_purge()

    page = mitra.get(f"/api/chat/{session_id}/messages").json()
    last = page["results"][-1]["id"]
    read = mitra.post(f"/api/chat/{session_id}/messages/read", {"up_to": last}, format="json")

    assert [m["text"] for m in page["results"]] == ["", "", ""]
    assert read.status_code == 200, read.content
    assert Message.objects.filter(read_at__isnull=False).count() == 3


def test_the_command_purges_now(active_chat, capsys):
    session_id, customer, _ = active_chat()
    _send(customer, session_id, 2)
    _age(session_id, 365)

    call_command("purge_messages")

    assert "2 message text(s) erased" in capsys.readouterr().out
    assert set(Message.objects.values_list("text", flat=True)) == {""}


@pytest.mark.parametrize("value", [0, 3651, "90", 1.5])
def test_the_retention_setting_is_1_to_3650_days(operator_client, value):
    response = operator_client.patch("/internal/config", {"message_retention_days": value}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["message_retention_days"]
