"""Message texts show in the control center on the Safety page only (SPEC §13, issue 13
item 4): operators read a conversation when a crisis alert asks them to, nowhere else.

Every page of the control center is visited — found by walking the admin site's URL
patterns, so a page added later is visited too (a pattern whose arguments this test
cannot fill fails it until it learns them) — with a session of texts, an alert, a
report, a rating and a failed pairing in the database."""

from __future__ import annotations

from html import escape

import pytest
from django.utils import timezone
from django.urls import URLResolver, reverse

from control_center.admin_site import control_center_site
from failed_pairings.models import CauseTag, PairingFailure
from pairing.models import ChatSession, ChatStatus
from safety.services import rating_create, report_create

pytestmark = pytest.mark.django_db

LINES = [
    ("customer", "Aku merasa sendirian sejak ibuku sakit"),
    ("mitra", "Aku di sini menemanimu malam ini"),
    ("customer", "Kadang aku ingin mati saja"),
]
SAFETY_PAGES = {"cc-safety", "cc-safety-data"}
NOT_PAGES = {"logout", "view_on_site", "autocomplete"}  # POST-only, a redirect elsewhere, a JSON lookup by field


def _patterns(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.name, list(pattern.pattern.converters) or list(pattern.pattern.regex.groupindex)


@pytest.fixture
def world(chat, raise_alert, make_customer):
    session = chat(lines=LINES, status=ChatStatus.ACTIVE)
    alert = raise_alert(session, ["ingin mati"])[0]
    report, _ = report_create(user=session.customer, chat_session_id=session.id, reason="other", text="")
    ChatSession.objects.filter(pk=session.pk).update(status=ChatStatus.COMPLETED, ended_at=timezone.now())
    rating_create(customer=session.customer, chat_session_id=session.id, stars=4, comment="")
    failure = PairingFailure.objects.create(
        customer=session.customer, payment_session=session.payment_session, chat_session=session,
        cause_tag=CauseTag.NO_MITRA_AVAILABLE, amount=50_000,
    )
    return {
        "user_id": [session.customer.id, session.mitra.id],
        "alert_id": [alert.id], "report_id": [report.id], "failure_id": [failure.id], "chat_session_id": [session.id],
        "object_id": {"pairing_": [session.id], "accounts_customerprofile_": [session.customer.customer_profile.pk]},
        "app_label": ["pairing", "accounts"],
    }


def _urls(world) -> list[tuple[str, str]]:
    urls = []
    for route, name, arguments in _patterns(control_center_site.get_urls()):
        if name is None or name in NOT_PAGES:
            continue
        values = [{}]
        for argument in arguments:
            choices = world.get(argument)
            if isinstance(choices, dict):  # by the pattern's name
                choices = next((ids for start, ids in choices.items() if name.startswith(start)), None)
            assert choices, f"the control-center page {name!r} ({route}) takes {argument!r}: teach this test an id for it"
            values = [{**v, argument: str(choice)} for v in values for choice in choices]
        for kwargs in values:
            urls.append((name, reverse(f"control_center:{name}", kwargs=kwargs)))
    return urls


def test_message_texts_show_on_the_safety_page_only(cc, world):
    texts = [text for _, text in LINES]
    seen_on, visited = set(), []

    for name, url in _urls(world):
        response = cc.get(url)
        visited.append(name)
        assert response.status_code < 500, (url, response.status_code)
        body = response.content.decode()
        shown = [text for text in texts if text in body or escape(text) in body]
        if shown:
            seen_on.add(name)
            assert name in SAFETY_PAGES, f"{url} shows message text: {shown}"

    # the walk reached the pages that matter, and the Safety page does show the conversation
    assert {"index", "cc-mitras", "cc-failed-pairings", "cc-reports", "cc-suspension", "cc-mitra-erasure", "pairing_chatsession_timeline",
            "pairing_chatsession_changelist", "pairing_chatsession_change", "accounts_customerprofile_change"} <= set(visited)
    assert seen_on == {"cc-safety", "cc-safety-data"} or seen_on == {"cc-safety"}, seen_on
