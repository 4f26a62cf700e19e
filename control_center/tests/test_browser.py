"""The control center in real headless Chromium (Debian's /usr/bin/chromium), driven by
Playwright for Python, against the app served by pytest-django's live server.

Skipped (loudly) only when no Chromium exists on a developer's machine; in CI
(``CI`` set) a missing browser is a failure. Screenshots of every page are written
to ``docs/screenshots/`` (shown in the README).
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import MitraStatus
from failed_pairings.models import CauseTag, PairingFailure
from live_settings.selectors import config_all_fresh
from pairing.models import ChatSession, ChatStatus
from payments.models import PaymentSession, PaymentStatus

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
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
    assert [item.strip() for item in nav] == ["Dashboard", "Mitra", "Sesi", "Failed Pairings", "Users", "Settings"]
    assert page.locator("#mitra-table").get_by_text("Bestie Sari").is_visible()
    shot(page, "dashboard")
    for name, label in [("sesi", "Sesi"), ("users", "Users")]:
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
    log_in(page, live_server, operator)

    page.locator("#nav-sidebar").get_by_role("link", name="Failed Pairings").click()
    assert page.locator("#result-count").inner_text() == "60 rows"
    assert page.locator("#failed-pairings tbody tr").count() == 50
    shot(page, "failed-pairings")

    page.get_by_role("link", name="Next").click()
    assert "Page 2 of 2" in page.locator(".cc-pager").inner_text()
    assert page.locator("#failed-pairings tbody tr").count() == 10
    page.get_by_role("link", name="Prev").click()
    assert "Page 1 of 2" in page.locator(".cc-pager").inner_text()

    # cause multi-select + date range
    page.get_by_label("Cause").select_option(["customer_cancelled", "targeted_mitra_rejected"])
    page.get_by_role("button", name="Filter").click()
    assert page.locator("#result-count").inner_text() == "5 rows"
    page.get_by_label("Created from").fill((today - timedelta(days=4)).date().isoformat())
    page.get_by_label("Created to").fill((today - timedelta(days=2)).date().isoformat())
    page.get_by_role("button", name="Filter").click()
    assert page.locator("#result-count").inner_text() == "4 rows"
    shot(page, "failed-pairings-filtered")

    # a consumed payment is never offered a money action
    page.goto(f"{live_server.url}/admin/failed-pairings/?cause_tags=targeted_mitra_rejected")
    consumed_row = page.locator(f'tr[data-failure="{consumed.id}"]')
    options = consumed_row.locator("select[name=action] option").all_inner_texts()
    assert options == ["Action…", "Mark as no-action"]

    # action a row: it locks
    page.goto(f"{live_server.url}/admin/failed-pairings/?cause_tags=customer_cancelled")
    row = page.locator("#failed-pairings tbody tr").first
    failure_id = row.get_attribute("data-failure")
    row.get_by_label("Action for this row").select_option("refunded")
    row.get_by_label("Note").fill("Refund sent via bank transfer")
    row.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert "saved. The row is now locked." in page.locator(".messagelist").inner_text()
    locked = page.locator(f'tr[data-failure="{failure_id}"]')
    assert locked.locator('[data-field="actions"]').inner_text().strip() == "—"
    assert locked.locator('[data-field="operator-action"]').inner_text().strip() == "Refunded"
    failure = PairingFailure.objects.get(id=failure_id)
    assert (failure.operator_action, failure.actioned_by_id, failure.note) == ("refunded", operator.id, "Refund sent via bank transfer")
    shot(page, "failed-pairings-actioned")


def test_mitra_page_refreshes_live_and_creates_mitras(page, live_server, make_operator, make_mitra):
    from pairing import services as pairing_services

    mitra = make_mitra(display_name="Bestie Live")
    log_in(page, live_server, make_operator())
    page.locator("#nav-sidebar").get_by_role("link", name="Mitra").click()
    row = page.locator("#mitra-table tr", has_text="Bestie Live")
    assert row.locator('[data-field="status"]').inner_text() == "offline"

    pairing_services.mitra_status_set(mitra=mitra, status=MitraStatus.ONLINE)

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
