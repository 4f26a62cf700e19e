"""The control center in real headless Chromium (Debian's /usr/bin/chromium), driven by
Playwright for Python, against the app served by pytest-django's live server (WSGI: no
websockets), or by daphne in a process of its own (``asgi_server``: the app as
production serves it, ``/ws/operator/`` included) where a page's live updates are the
subject.

Skipped (loudly) only when no Chromium exists on a developer's machine; in CI
(``CI`` set) a missing browser is a failure. Screenshots of every page are written
to ``.data/screenshots/`` (ignored by git); ``make screenshots`` writes them to
``docs/screenshots/`` instead, the README's pictures (``screenshots.py``).
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import expect
from django.utils import timezone

from accounts.models import MitraStatus
from control_center.tests.screenshots import screenshot_dir
from failed_pairings.models import CauseTag, PairingFailure
from live_settings.selectors import config_all_fresh
from pairing import answers, attempts
from pairing.models import ChatSession, ChatStatus
from payments.models import PaymentSession, PaymentStatus

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = screenshot_dir()
OPERATOR_PASSWORD = "s3cret-pass-123"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests, but there is no Chromium at {CHROMIUM} (.ci/run installs it)")
        pytest.skip(f"BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}; `apt-get install chromium` to run them")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread for the whole
    # module; the ORM calls made here between browser steps (and the database flush
    # after each test) are still plain sync calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
            ],
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    """A fresh page; at the end, no page may have broken the control center's CSP
    (Chromium reports each blocked script, style or request on the console)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
    yield page
    context.close()
    assert not violations, violations


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def off_the_event_loop(story):
    """Run ``story`` (domain services making a test's data) in a thread of its own:
    Playwright's sync API keeps an event loop running in this one, where the services'
    after-commit deliveries (``async_to_sync``) cannot run."""

    def run():
        try:
            return story()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def log_in(page, live_server, operator) -> None:
    """Keyboard only: the fields are reached through their labels, Tab and Enter."""
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Email or phone").focus()
    page.keyboard.type(operator.email)
    page.keyboard.press("Tab")
    page.keyboard.type(OPERATOR_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/admin/")


def test_operator_logs_in_with_the_keyboard_and_sees_the_sidebar_in_order(page, live_server, make_operator, online_mitra):
    operator = make_operator()
    online_mitra(display_name="Bestie Sari")
    page.goto(f"{live_server.url}/admin/login/")
    shot(page, "login")
    # the labels are associated with their inputs
    assert page.get_by_label("Email or phone").get_attribute("name") == "username"
    assert page.get_by_label("Password").get_attribute("type") == "password"

    log_in(page, live_server, operator)

    nav = page.locator("#nav-sidebar .cc-nav a").all_inner_texts()
    assert [item.strip() for item in nav] == ["Dashboard", "Mitra", "Sesi", "Failed Pairings", "Safety", "Reports", "Users", "Settings"]
    assert page.locator("#mitra-table").get_by_text("Bestie Sari").is_visible()
    shot(page, "dashboard")
    for name, label in [("users", "Users")]:  # Sesi with rows: the timeline test
        page.locator("#nav-sidebar").get_by_role("link", name=label, exact=True).click()
        page.wait_for_load_state()
        shot(page, name)


def test_a_customer_or_mitra_cannot_enter_the_control_center(page, live_server, make_mitra):
    mitra = make_mitra()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Email or phone").fill(mitra.email)
    page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    assert "/admin/login/" in page.url
    assert page.locator(".errornote").is_visible()


def _set_setting(page, live_server, key: str, value) -> None:
    page.goto(f"{live_server.url}/admin/settings/")
    field = page.locator(f"#setting-{key}")
    if isinstance(value, bool):
        field.get_by_role("switch").set_checked(value)
    elif isinstance(value, str):
        field.get_by_label({"auto_approve": "Auto-approve", "auto_reject": "Auto-reject"}[value]).check()
    else:
        field.locator("input[type=number]").fill(str(value))
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{live_server.url}/admin/settings/")
    assert page.locator(".messagelist .success").is_visible(), page.locator(".messagelist").inner_text()


def _bearer(api_client_for, user) -> dict:
    return {"Authorization": f"Bearer {api_client_for(user).tokens['access']}"}


def test_each_new_setting_changes_the_next_api_request(
    page, live_server, make_operator, make_customer, online_mitra, confirmed_payment, make_tier, api_client_for
):
    from extensions.models import Extension
    from payments import services as payment_services

    operator = make_operator()
    log_in(page, live_server, operator)
    api = page.request

    # Batas Waktu Blast Pairing → the next chat start's blast_timeout_seconds
    _set_setting(page, live_server, "pairing_blast_timeout_seconds", 42)
    online_mitra()
    customer = make_customer()
    payment = confirmed_payment(customer)
    started = api.post(
        f"{live_server.url}/api/client/chat/start", headers=_bearer(api_client_for, customer),
        data={"payment_session_id": str(payment.id), "sensitive": False},
    )
    assert started.status == 201 and started.json()["blast_timeout_seconds"] == 42

    # Batas Waktu Sesi Pembayaran → the next payment session's expires_at
    _set_setting(page, live_server, "payment_session_timeout_minutes", 7)
    tier = make_tier()
    created = api.post(f"{live_server.url}/api/client/payment-sessions", headers=_bearer(api_client_for, customer), data={"tier_id": str(tier.id)})
    assert created.status == 201
    row = PaymentSession.objects.get(id=created.json()["id"])
    assert row.expires_at - row.created_at == pytest.approx(timedelta(minutes=7), abs=timedelta(seconds=2))

    # Batas Waktu Konfirmasi Chat Lanjutan → the next "Curhat lagi" confirmation window
    _set_setting(page, live_server, "returning_chat_confirmation_timeout_seconds", 33)
    mitra = online_mitra()
    returning_customer = make_customer()
    earlier = confirmed_payment(returning_customer)
    ChatSession.objects.create(
        customer=returning_customer, mitra=mitra, payment_session=earlier, status=ChatStatus.COMPLETED, duration_minutes=30,
        started_at=timezone.now() - timedelta(hours=2), ends_at=timezone.now() - timedelta(hours=1), ended_at=timezone.now() - timedelta(hours=1),
    )
    PaymentSession.objects.filter(pk=earlier.pk).update(status=PaymentStatus.CONSUMED)
    paid = confirmed_payment(returning_customer, targeted_mitra=mitra)
    returning = api.post(
        f"{live_server.url}/api/client/chat/returning", headers=_bearer(api_client_for, returning_customer),
        data={"payment_session_id": str(paid.id), "mitra_id": str(mitra.id), "sensitive": False},
    )
    assert returning.status == 201, returning.text()
    assert returning.json()["confirmation_timeout_seconds"] == 33

    # Aksi Default Jika Bestie Tidak Menjawab Extension → the next extension's default_action
    _set_setting(page, live_server, "extension_default_action_on_timeout", "auto_reject")
    busy_mitra = online_mitra()
    chatting = make_customer()
    session_payment = confirmed_payment(chatting)
    now = timezone.now()
    session = ChatSession.objects.create(
        customer=chatting, mitra=busy_mitra, payment_session=session_payment, status=ChatStatus.ACTIVE, duration_minutes=30,
        started_at=now, ends_at=now + timedelta(minutes=30),
    )
    PaymentSession.objects.filter(pk=session_payment.pk).update(status=PaymentStatus.CONSUMED)
    ext_tier = make_tier(kind="extension", minutes=15, amount=25_000)
    ext_payment = payment_services.payment_session_create(customer=chatting, tier_id=ext_tier.id, is_extension=True, chat_session_id=session.id)
    payment_services.payment_session_confirm(customer=chatting, payment_id=ext_payment.id)
    extension = api.post(
        f"{live_server.url}/api/client/chat/{session.id}/extensions", headers=_bearer(api_client_for, chatting),
        data={"payment_session_id": str(ext_payment.id)},
    )
    assert extension.status == 201, extension.text()
    assert extension.json()["default_action"] == "auto_reject"
    assert Extension.objects.get(id=extension.json()["id"]).default_action == "auto_reject"

    page.goto(f"{live_server.url}/admin/settings/")
    history = page.locator("#settings-history").inner_text()
    for key in ("pairing_blast_timeout_seconds", "payment_session_timeout_minutes", "returning_chat_confirmation_timeout_seconds", "extension_default_action_on_timeout"):
        assert key in history
    shot(page, "settings")


def test_a_bad_setting_shows_its_error_next_to_the_field_and_saves_nothing(page, live_server, make_operator):
    log_in(page, live_server, make_operator())
    before = config_all_fresh()
    page.goto(f"{live_server.url}/admin/settings/")
    page.locator("#setting-pairing_blast_timeout_seconds input").fill("9999")
    page.locator("#setting-closing_goodbye_seconds input").fill("30")

    page.get_by_role("button", name="Save").click()

    error = page.locator("#setting-pairing_blast_timeout_seconds .cc-errors")
    assert error.inner_text() == "Must be between 1 and 600 detik."
    assert config_all_fresh() == before
    shot(page, "settings-error")


def _failure_rows(make_customer, confirmed_payment, *, count: int, cause: str, created_at, status=PaymentStatus.FAILED_PAIRING):
    customer = make_customer()
    rows = []
    for _ in range(count):
        payment = confirmed_payment(customer)
        PaymentSession.objects.filter(pk=payment.pk).update(status=status)
        rows.append(PairingFailure(customer=customer, cause_tag=cause, amount=payment.amount, payment_session=payment))
    created = PairingFailure.objects.bulk_create(rows)
    PairingFailure.objects.filter(id__in=[r.id for r in created]).update(created_at=created_at)
    return created


def test_failed_pairings_filter_page_and_action(page, live_server, make_operator, make_customer, confirmed_payment):
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    _failure_rows(make_customer, confirmed_payment, count=55, cause=CauseTag.NO_MITRA_AVAILABLE, created_at=today)
    _failure_rows(make_customer, confirmed_payment, count=4, cause=CauseTag.CUSTOMER_CANCELLED, created_at=today - timedelta(days=3))
    consumed = _failure_rows(make_customer, confirmed_payment, count=1, cause=CauseTag.TARGETED_MITRA_REJECTED, created_at=today, status=PaymentStatus.CONSUMED)[0]
    operator = make_operator()
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, operator)

    page.locator("#nav-sidebar").get_by_role("link", name="Failed Pairings").click()
    assert page.locator("#result-count").inner_text() == "60 rows"
    rows = page.locator("#failed-pairings tbody tr")
    assert rows.count() == 50
    shot(page, "failed-pairings")
    # a page of 50 fits in about two screens: one compact control per row
    assert page.evaluate("document.documentElement.scrollHeight") <= 1700
    assert page.locator("#failed-pairings details.cc-row-menu").count() == 50
    assert page.locator("#failed-pairings select[name=action]:visible").count() == 0
    # amounts in rupiah, causes in Indonesian with the code on hover
    first = rows.first
    assert first.locator("td.cc-amount").inner_text() == "Rp 50.000"
    cause = first.locator(".cc-cause")
    assert (cause.inner_text(), cause.get_attribute("title")) == ("Tidak ada bestie tersedia", "no_mitra_available")

    page.get_by_role("link", name="Next").click()
    assert "Page 2 of 2" in page.locator(".cc-pager").inner_text()
    assert page.locator("#failed-pairings tbody tr").count() == 10
    page.get_by_role("link", name="Prev").click()
    assert "Page 1 of 2" in page.locator(".cc-pager").inner_text()

    # cause multi-select (Indonesian labels) + date range
    page.get_by_label("Cause").select_option(label=["Customer membatalkan", "Bestie pilihan menolak"])
    page.get_by_role("button", name="Filter").click()
    assert page.locator("#result-count").inner_text() == "5 rows"
    assert "cause_tags=customer_cancelled" in page.url and "cause_tags=targeted_mitra_rejected" in page.url
    page.get_by_label("Created from").fill((today - timedelta(days=4)).date().isoformat())
    page.get_by_label("Created to").fill((today - timedelta(days=2)).date().isoformat())
    page.get_by_role("button", name="Filter").click()
    assert page.locator("#result-count").inner_text() == "4 rows"
    shot(page, "failed-pairings-filtered")

    # a consumed payment is never offered a money action
    page.goto(f"{live_server.url}/admin/failed-pairings/?cause_tags=targeted_mitra_rejected")
    consumed_row = page.locator(f'tr[data-failure="{consumed.id}"]')
    consumed_row.locator("summary").click()
    options = consumed_row.locator("select[name=action] option").all_inner_texts()
    assert options == ["Action…", "Mark as no-action"]

    # the menu by keyboard: Enter opens it on its first field, Escape closes it
    page.goto(f"{live_server.url}/admin/failed-pairings/?cause_tags=customer_cancelled")
    row = page.locator("#failed-pairings tbody tr").first
    failure_id = row.get_attribute("data-failure")
    row.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(row.get_by_label("Action for this row")).to_be_focused()
    page.keyboard.press("Escape")
    expect(row.get_by_label("Action for this row")).to_be_hidden()
    expect(row.locator("summary")).to_be_focused()

    # action a row: it locks
    row.locator("summary").click()
    row.get_by_label("Action for this row").select_option("refunded")
    row.get_by_label("Note").fill("Refund sent via bank transfer")
    shot(page, "failed-pairings-menu")
    row.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert "saved. The row is now locked." in page.locator(".messagelist").inner_text()
    locked = page.locator(f'tr[data-failure="{failure_id}"]')
    assert locked.locator('[data-field="actions"]').inner_text().strip() == "—"
    assert locked.locator('[data-field="operator-action"]').inner_text().strip() == "Refunded"
    failure = PairingFailure.objects.get(id=failure_id)
    assert (failure.operator_action, failure.actioned_by_id, failure.note) == ("refunded", operator.id, "Refund sent via bank transfer")
    shot(page, "failed-pairings-actioned")


def test_a_row_menu_works_without_javascript(browser, live_server, make_operator, make_customer, confirmed_payment):
    [failure] = _failure_rows(make_customer, confirmed_payment, count=1, cause=CauseTag.ALL_MITRAS_REJECTED, created_at=timezone.now())
    operator = make_operator()
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, live_server, operator)
        page.goto(f"{live_server.url}/admin/failed-pairings/")
        row = page.locator(f'tr[data-failure="{failure.id}"]')
        row.locator("summary").click()
        row.get_by_label("Action for this row").select_option("no_action")
        row.get_by_label("Note").fill("looked at, nothing owed")
        row.get_by_role("button", name="Apply").click()
        page.wait_for_load_state()

        assert "Mark as no-action: saved. The row is now locked." in page.locator(".messagelist").inner_text()
        failure.refresh_from_db()
        assert (failure.operator_action, failure.actioned_by_id, failure.note) == ("no_action", operator.id, "looked at, nothing owed")
    finally:
        context.close()


def test_the_dashboard_shows_todays_figures_and_a_chart_of_14_days(page, live_server, make_operator, make_customer, online_mitra, confirmed_payment):
    # given: today two requests, one matched by the only mitra, the other failing at once
    # (nobody left to offer it to)
    def story():
        customer = make_customer(call_name="Ayu")
        mitra = online_mitra(display_name="Bestie Sari")
        matched = attempts.chat_start(customer=customer, payment_id=confirmed_payment(customer, amount=50_000).id, sensitive=False)
        answers.chat_request_accept(mitra=mitra, chat_session_id=matched.id)
        other = make_customer(call_name="Budi")
        attempts.chat_start(customer=other, payment_id=confirmed_payment(other, amount=75_000).id, sensitive=False)

    off_the_event_loop(story)
    log_in(page, live_server, make_operator())

    # then
    figures = page.locator("#today-figures")
    assert figures.locator("#today-requests strong").inner_text() == "2"
    assert figures.locator("#today-matched strong").inner_text() == "1"
    assert figures.locator("#today-failed strong").inner_text() == "1"
    cause = figures.locator("#today-failed .cc-cause")
    assert (cause.inner_text(), cause.get_attribute("title")) == ("Tidak ada bestie tersedia", "no_mitra_available")
    assert figures.locator("#today-revenue strong").inner_text() == "Rp 125.000"
    assert figures.locator("#today-refunds strong").inner_text() == "Rp 0"
    chart = page.locator("#days-chart")
    assert chart.is_visible()
    assert chart.locator("g.cc-day").count() == 14
    assert chart.locator("g.cc-day").last.locator("rect.cc-bar-requests title").text_content().endswith(": 2 requests, 1 matched")
    page.get_by_text("Figures by day").click()
    assert page.locator("#days-table tbody tr").first.locator("td").all_inner_texts()[1:] == ["2", "1", "1", "Rp 125.000", "Rp 0"]
    shot(page, "dashboard-today")


def test_a_sessions_timeline_opens_from_the_sesi_page(page, live_server, make_operator, make_customer, online_mitra, confirmed_payment):
    from chat.services import message_send

    # given: a blast to two mitras, one declines, the other accepts; two messages
    def story():
        customer = make_customer(call_name="Ayu")
        first, second = online_mitra(display_name="Bestie Sari"), online_mitra(display_name="Bestie Dewi")
        attempt = attempts.chat_start(customer=customer, payment_id=confirmed_payment(customer, amount=50_000).id, sensitive=False)
        answers.chat_request_decline(mitra=first, chat_session_id=attempt.id)
        answers.chat_request_accept(mitra=second, chat_session_id=attempt.id)
        message_send(user=customer, chat_session_id=attempt.id, client_message_id="a", text="sangat pribadi")
        message_send(user=second, chat_session_id=attempt.id, client_message_id="b", text="aku dengar")
        return attempt

    attempt = off_the_event_loop(story)
    log_in(page, live_server, make_operator())

    # when
    page.locator("#nav-sidebar").get_by_role("link", name="Sesi", exact=True).click()
    shot(page, "sesi")
    page.get_by_role("link", name=f"Timeline of {attempt.id}").click()

    # then
    page.wait_for_url(f"{live_server.url}/admin/pairing/chatsession/{attempt.id}/timeline/")
    assert page.get_by_role("heading", name="Session timeline").is_visible()
    events = page.locator("#timeline tbody tr td:nth-child(3)").all_inner_texts()
    assert "Offered to 2 mitras" in [e.split(";")[0] for e in events]
    assert "Accepted by Bestie Dewi" in events
    assert page.locator("#timeline tbody tr td.cc-amount").filter(has_text="Rp 50.000").count() >= 1
    assert page.locator("#message-counts").inner_text().startswith("1 from the customer, 1 from the mitra")
    assert "sangat pribadi" not in page.content()
    assert page.locator("#nav-sidebar a.current").inner_text().strip() == "Sesi"
    shot(page, "sesi-timeline")


def test_mitra_page_refreshes_live_and_creates_mitras(page, live_server, make_operator, make_mitra):
    mitra = make_mitra(display_name="Bestie Live")
    log_in(page, live_server, make_operator())
    page.locator("#nav-sidebar").get_by_role("link", name="Mitra").click()
    row = page.locator("#mitra-table tr", has_text="Bestie Live")
    assert row.locator('[data-field="status"]').inner_text() == "offline"

    answers.mitra_status_set(mitra=mitra, status=MitraStatus.ONLINE)

    # the page polls every 5 s: no reload
    page.wait_for_function(
        """() => [...document.querySelectorAll('#mitra-table tr')].some(
            tr => tr.textContent.includes('Bestie Live') && tr.querySelector('[data-field=status]').textContent === 'online')""",
        timeout=12_000,
    )
    assert row.locator('[data-field="load"]').inner_text() == "0 / 1"

    page.get_by_label("Display name").fill("Bestie Baru")
    page.get_by_label("Email").fill("baru@example.test")
    page.get_by_label("Password").fill("a-long-password-1")
    page.get_by_role("button", name="Create mitra").click()
    assert "Mitra Bestie Baru created" in page.locator(".messagelist").inner_text()
    assert page.locator("#mitra-table").get_by_text("Bestie Baru").is_visible()
    shot(page, "mitra")


def test_operator_erases_a_mitra_after_a_confirmation(page, live_server, make_operator, online_mitra):
    from accounts.models import User
    from privacy.models import AccountErasure

    mitra = online_mitra(display_name="Bestie Pamit", email="pamit@example.test")
    operator = make_operator()
    log_in(page, live_server, operator)
    page.locator("#nav-sidebar").get_by_role("link", name="Mitra").click()
    page.locator("#mitra-table tr", has_text="Bestie Pamit").get_by_role("link", name="Erase…").click()

    page.get_by_label("Reason (required, kept in the audit trail)").fill("Berhenti, minta datanya dihapus")
    page.get_by_role("button", name="Erase…").click()
    confirm = page.locator("#erasure-confirm")
    assert "Erase Bestie Pamit? This cannot be undone." in confirm.inner_text()
    assert User.objects.get(pk=mitra.pk).is_active  # nothing happens before the confirmation
    shot(page, "mitra-erasure-confirm")

    confirm.get_by_role("button", name="Erase for good").click()
    assert "Bestie Pamit is erased" in page.locator(".messagelist").inner_text()
    assert page.locator('#erasure-record [data-field="reason"]').inner_text() == "Berhenti, minta datanya dihapus"
    user = User.objects.select_related("mitra_profile").get(pk=mitra.pk)
    assert (user.is_active, user.mitra_profile.display_name, user.mitra_profile.status) == (False, "Bestie", MitraStatus.OFFLINE)
    assert AccountErasure.objects.get(user=user).erased_by_id == operator.id

    page.get_by_role("link", name="Back to Mitra").click()
    erased = page.locator(f'#mitra-table tr[data-mitra="{mitra.id}"]')
    assert erased.locator('[data-field="account"]').inner_text().strip() == "erased Erasure record"
    erased.get_by_role("link", name="Erasure record").click()
    assert page.locator('#erasure-record [data-field="who"]').inner_text() == str(operator)
    shot(page, "mitra-erasure")


# =========================================================================================
# Safety and trust (SPEC §12): Safety (live), Reports, suspension, the Settings lists
# =========================================================================================
@pytest.fixture
def open_page(browser):
    """``open_page()`` → a page in a browser context of its own (its own login); like
    ``page``, none may break the CSP."""
    contexts, violations = [], []

    def make():
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        new = context.new_page()
        new.set_default_timeout(15_000)
        new.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
        return new

    yield make
    for context in contexts:
        context.close()
    assert not violations, violations


@pytest.fixture
def asgi_server(transactional_db, daphne_process):
    """The app under daphne (``config.asgi``, websockets included, static files served)
    in a process of its own, on this test's database and Redis; ``.url`` as
    ``live_server.url``. Stopped before the database is flushed."""
    return daphne_process(app="control_center.tests.asgi_app:application")


def _follow_operator_frames(page) -> list[dict]:
    """Every frame the page's /ws/operator/ socket receives, decoded, as it arrives."""
    import json

    frames: list[dict] = []

    def on_socket(socket_):
        if socket_.url.endswith("/ws/operator/"):
            socket_.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return frames


def off_the_browser_thread(call):
    """Run ``call()`` (a service that sends websocket events after its commit) on a thread
    of its own and return its result: the events go out through ``async_to_sync``, which
    cannot run on this thread, where Playwright's event loop lives."""
    import threading

    from django.db import connections

    outcome = {}

    def run():
        try:
            outcome["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def sign_in(page, server, user) -> None:
    """Signed in as ``user`` without the login form: a session made here (the daphne
    process checks passwords with the production hasher, not the tests' fast one)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": server.url}])


def _live(page) -> None:
    page.wait_for_selector('#live-status[data-live="on"]')
    page.evaluate("() => { window.ccSameDocument = true; }")


def _same_document(page) -> bool:
    """No reload since ``_live``: the marker set on the document is still there."""
    return page.evaluate("() => window.ccSameDocument === true")


CRISIS_LINES = [
    ("customer", "Halo kak, aku lagi capek banget sama semuanya"),
    ("mitra", "Halo Ayu, aku di sini. Cerita aja pelan-pelan ya"),
    ("customer", "Kadang aku ingin mati aja rasanya"),
]


def test_a_new_alert_reaches_open_safety_pages_live_and_a_step_with_a_note_reaches_the_others(
    open_page, asgi_server, make_operator, chat, raise_alert
):
    # given: two operators on the Safety page and one on the Dashboard, live over /ws/operator/
    first, second = make_operator(), make_operator()
    session = off_the_browser_thread(lambda: chat(lines=CRISIS_LINES))
    safety, other, dashboard = open_page(), open_page(), open_page()
    frames = _follow_operator_frames(safety)
    for page_, operator, path in [(safety, first, "/admin/safety/"), (other, second, "/admin/safety/"), (dashboard, first, "/admin/")]:
        sign_in(page_, asgi_server, operator)
        page_.goto(f"{asgi_server.url}{path}")
        _live(page_)
    assert safety.locator("#safety-alerts tbody").inner_text().strip() == "No alerts."
    assert dashboard.locator("#open-alerts-count").inner_text() == "0"

    # when: a customer's message raises an alert
    [alert] = off_the_browser_thread(lambda: raise_alert(session, ["ingin mati"]))

    # then: it appears on every open page without a reload, pushed over the socket
    row = safety.locator(f'#safety-alerts tr[data-alert="{alert.id}"]')
    row.wait_for()
    assert _same_document(safety)
    assert {"type": "safety_alert", "id": str(alert.id), "status": "open"} in [
        {"type": f["type"], "id": f["alert"]["id"], "status": f["alert"]["status"]} for f in frames if f.get("type") == "safety_alert"
    ]
    assert row.locator('[data-field="phrase"]').inner_text() == "ingin mati"
    assert row.locator('[data-field="status"]').inner_text() == "Open"
    assert safety.locator("#open-alert-count").inner_text() == "1"
    dashboard.wait_for_function("() => document.getElementById('open-alerts-count').textContent === '1'")
    assert _same_document(dashboard)
    shot(dashboard, "dashboard-live")
    # the session's recent messages, for context
    row.locator("summary").click()
    context = row.locator(".cc-context li").all_inner_texts()
    assert [line.split(": ", 1)[1] for line in context] == [text for _, text in CRISIS_LINES]
    shot(safety, "safety")

    # and when: the second operator starts a note while the first one records a step
    other_row = other.locator(f'#safety-alerts tr[data-alert="{alert.id}"]')
    other_row.wait_for()
    other_row.get_by_label("Note").fill("I can call her too")
    row.get_by_label("Step for this alert").select_option("contacted")
    row.get_by_label("Note").fill("Called the mitra; Ayu is safe at home")
    row.get_by_role("button", name="Save").click()
    safety.wait_for_load_state()

    # then: the step and its note are in the audit trail, on this page and live on the other
    assert "Alert “ingin mati”: contacted" in safety.locator(".messagelist").inner_text()
    trail = safety.locator(f'#safety-alerts tr[data-alert="{alert.id}"] [data-field="trail"]')
    assert trail.inner_text().startswith(f"Contacted: Called the mitra; Ayu is safe at home — {first.email}")
    other.wait_for_function(
        """id => document.querySelector(`tr[data-alert="${id}"] [data-field="trail"]`).textContent.includes('Ayu is safe at home')""",
        arg=str(alert.id),
    )
    assert other_row.locator('[data-field="status"]').inner_text() == "Contacted"
    assert other_row.get_by_label("Note").input_value() == "I can call her too"  # what they were typing survives
    assert _same_document(other)
    dashboard.wait_for_function("() => document.getElementById('open-alerts-count').textContent === '0'")
    shot(other, "safety-actioned")


def test_the_safety_page_polls_when_the_live_socket_is_down(page, live_server, make_operator, chat, raise_alert, monkeypatch):
    """pytest-django's live server speaks no websocket: the page says so and its poll
    (shortened here) brings a new alert all the same."""
    from control_center import views

    monkeypatch.setattr(views, "LIVE_POLL_SECONDS", 1)
    session = off_the_browser_thread(lambda: chat(lines=CRISIS_LINES))
    log_in(page, live_server, make_operator())
    page.goto(f"{live_server.url}/admin/safety/")
    page.wait_for_selector('#live-status[data-live="off"]')
    assert page.locator("#live-status").inner_text().startswith("Live updates unavailable: refreshing every 1 s.")
    page.evaluate("() => { window.ccSameDocument = true; }")

    [alert] = off_the_browser_thread(lambda: raise_alert(session, ["bunuh diri"]))

    page.locator(f'#safety-alerts tr[data-alert="{alert.id}"]').wait_for()
    assert _same_document(page)
    assert page.locator("#open-alert-count").inner_text() == "1"


def test_an_operator_decides_a_report_and_suspends_the_reported_mitra(page, live_server, make_operator, make_customer, make_mitra, chat):
    from safety.models import Report
    from safety.services import report_create

    # given: Ayu reports her mitra during their session
    operator = make_operator()
    session = chat(customer=make_customer(call_name="Ayu"), mitra=make_mitra(display_name="Bestie Sekar"))
    report, _ = report_create(user=session.customer, chat_session_id=session.id, reason="harassment", text="Dia mengejek aku terus")
    other = chat(customer=make_customer(call_name="Budi"), mitra=make_mitra(display_name="Bestie Wulan"))
    report_create(user=other.mitra, chat_session_id=other.id, reason="spam", text="Kirim link judi")
    log_in(page, live_server, operator)

    # when
    page.locator("#nav-sidebar").get_by_role("link", name="Reports").click()
    assert page.locator("#result-count").inner_text() == "2 reports"
    shot(page, "reports")
    row = page.locator(f'tr[data-report="{report.id}"]')
    row.get_by_label("Decision for this report").select_option("suspended")
    row.get_by_label("Note").fill("Harassed the customer twice")
    row.get_by_label("End active sessions now").check()
    row.get_by_role("button", name="Decide").click()
    page.wait_for_load_state()

    # then
    assert "Report decided: the reported account is suspended." in page.locator(".messagelist").inner_text()
    assert row.locator('[data-field="status"]').inner_text() == "Suspended"
    assert row.locator('[data-field="trail"]').inner_text().startswith(f"Suspended: Harassed the customer twice — {operator.email}")
    assert row.locator('[data-field="actions"]').inner_text().strip() == "—"
    assert Report.objects.get(pk=report.pk).status == "suspended"
    assert ChatSession.objects.get(pk=session.pk).status == "completed"
    shot(page, "reports-decided")

    # and the reported account's suspension page tells the story
    row.get_by_role("link", name="Suspension…").click()
    assert page.locator('[data-field="state"]').inner_text().startswith("suspended")
    assert page.locator("#suspension-trail tbody tr").first.inner_text().split("\t")[1:] == [
        "Suspended", "Harassed the customer twice", "yes", operator.email,
    ]


def test_an_operator_suspends_a_customer_after_confirming_and_reactivates_them(page, live_server, make_operator, make_customer, chat):
    from accounts.models import AccountSuspension, User

    operator = make_operator()
    session = chat(customer=make_customer(call_name="Citra"))
    log_in(page, live_server, operator)
    page.locator("#nav-sidebar").get_by_role("link", name="Users").click()
    page.locator("#result_list tr", has_text="Citra").get_by_role("link", name="Suspend…").click()

    page.get_by_label("Reason").fill("Threatening messages to the mitra")
    page.get_by_role("button", name="Suspend…").click()
    assert page.get_by_role("heading", name="Suspend Citra?").is_visible()
    assert not User.objects.get(pk=session.customer.pk).is_suspended  # nothing until confirmed
    shot(page, "suspension-confirm")
    page.get_by_role("button", name="Confirm suspension").click()

    assert "Citra is suspended. Their active sessions go on." in page.locator(".messagelist").inner_text()
    assert User.objects.get(pk=session.customer.pk).is_suspended
    assert ChatSession.objects.get(pk=session.pk).status == "active"
    shot(page, "suspension")

    page.get_by_label("Reason").fill("Talked it through")
    page.get_by_role("button", name="Reactivate").click()
    assert "Citra is active again." in page.locator(".messagelist").inner_text()
    assert list(AccountSuspension.objects.order_by("id").values_list("action", flat=True)) == ["suspended", "reactivated"]


def test_the_settings_list_editors_add_and_remove_phrases_and_resources(page, live_server, make_operator):
    from live_settings.registry import DEFAULT_CRISIS_PHRASES, DEFAULT_CRISIS_RESOURCES

    log_in(page, live_server, make_operator())
    page.goto(f"{live_server.url}/admin/settings/")
    phrases = page.locator("#setting-crisis_phrases")
    # the script replaced the spare empty rows with an Add button
    assert phrases.locator("input").count() == len(DEFAULT_CRISIS_PHRASES)

    phrases.get_by_role("button", name=f"Remove phrase {DEFAULT_CRISIS_PHRASES.index('suicide') + 1}").click()
    phrases.get_by_role("button", name="Add phrase").click()
    page.keyboard.type("capek hidup")  # the new row has the focus
    assert phrases.get_by_label(f"Phrase {len(DEFAULT_CRISIS_PHRASES)}", exact=True).input_value() == "capek hidup"
    resources = page.locator("#setting-crisis_resources")
    resources.get_by_role("button", name="Add resource").click()
    resources.get_by_label("Resource 4 name").fill("Into The Light Indonesia")
    resources.get_by_label("Resource 4 url").fill("https://www.intothelightid.org")
    shot(page, "settings-lists")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{live_server.url}/admin/settings/")

    assert page.locator(".messagelist .success").is_visible(), page.locator(".messagelist").inner_text()
    stored = config_all_fresh()
    assert stored["crisis_phrases"] == [p for p in DEFAULT_CRISIS_PHRASES if p != "suicide"] + ["capek hidup"]
    assert stored["crisis_resources"] == DEFAULT_CRISIS_RESOURCES + [
        {"name": "Into The Light Indonesia", "contact": "", "url": "https://www.intothelightid.org", "hours": ""}
    ]
    assert phrases.locator('input[value="capek hidup"]').count() == 1
    assert "Added: capek hidup. Removed: suicide." in page.locator("#settings-history").inner_text()
