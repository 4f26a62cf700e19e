"""The control center: a customized Django admin site for operators (staff only).

Sidebar, in this order: Dashboard, Mitra, Sesi, Failed Pairings, Safety, Reports, Users,
Settings (SPEC §8, with §12's Safety after Failed Pairings). Pages are thin: they read through selectors and write through the same domain
services as ``/internal/`` (so every rule is enforced by the server, not the page).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.urls import path, reverse

from accounts.login_throttle import login_failure_record, login_failures_clear, login_retry_after
from control_center import views


class ControlCenterLoginForm(AdminAuthenticationForm):
    """Email or phone, rate-limited per login with the same Redis counter as the API."""

    username = forms.CharField(label="Email or phone", max_length=254, widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}))

    def clean(self):
        login = self.data.get("username", "")
        retry_after = login_retry_after(login)
        if retry_after is not None:
            raise forms.ValidationError(
                f"Too many failed attempts. Try again in {max(1, retry_after // 60)} minute(s).", code="throttled"
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            login_failure_record(login)
            raise
        login_failures_clear(login)
        return cleaned


class ControlCenterSite(admin.AdminSite):
    site_header = "Curhat Control Center"
    site_title = "Curhat Control Center"
    index_title = "Dashboard"
    login_form = ControlCenterLoginForm
    enable_nav_sidebar = True
    site_url = None  # no public site to "view"

    def has_permission(self, request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and getattr(user, "is_operator", False))

    # -- navigation ---------------------------------------------------------------
    def nav_items(self, request) -> list[dict]:
        items = [
            ("Dashboard", reverse("control_center:index")),
            ("Mitra", reverse("control_center:cc-mitras")),
            ("Sesi", reverse("control_center:pairing_chatsession_changelist")),
            ("Failed Pairings", reverse("control_center:cc-failed-pairings")),
            ("Safety", reverse("control_center:cc-safety")),
            ("Reports", reverse("control_center:cc-reports")),
            ("Users", reverse("control_center:accounts_customerprofile_changelist")),
            ("Settings", reverse("control_center:cc-settings")),
        ]
        current = request.path
        active = max((url for _, url in items if current.startswith(url) and url != reverse("control_center:index")), key=len, default=None)
        if active is None and current == reverse("control_center:index"):
            active = current
        return [{"label": label, "url": url, "active": url == active} for label, url in items]

    def each_context(self, request):
        context = super().each_context(request)
        context["cc_nav"] = self.nav_items(request) if self.has_permission(request) else []
        context["cc_time_zone"] = settings.CONTROL_CENTER_TIME_ZONE
        return context

    # -- pages --------------------------------------------------------------------------
    def get_urls(self):
        custom = [
            path("mitras/", self.admin_view(views.MitraDashboardView.as_view(site=self)), name="cc-mitras"),
            path(
                "mitras/<uuid:user_id>/erasure",
                self.admin_view(views.MitraErasureView.as_view(site=self)),
                name="cc-mitra-erasure",
            ),
            path("mitras/live.json", self.admin_view(views.mitra_dashboard_data), name="cc-mitras-data"),
            path("failed-pairings/", self.admin_view(views.FailedPairingsView.as_view(site=self)), name="cc-failed-pairings"),
            path(
                "failed-pairings/<uuid:failure_id>/action",
                self.admin_view(views.FailedPairingActionView.as_view(site=self)),
                name="cc-failed-pairing-action",
            ),
            path("safety/", self.admin_view(views.SafetyView.as_view(site=self)), name="cc-safety"),
            path("safety/live.json", self.admin_view(views.safety_page_live), name="cc-safety-data"),
            path("safety/counts.json", self.admin_view(views.safety_counts_data), name="cc-safety-counts"),
            path(
                "safety/<uuid:alert_id>/action",
                self.admin_view(views.SafetyAlertActionView.as_view(site=self)),
                name="cc-safety-action",
            ),
            path("reports/", self.admin_view(views.ReportsView.as_view(site=self)), name="cc-reports"),
            path(
                "reports/<uuid:report_id>/action",
                self.admin_view(views.ReportActionView.as_view(site=self)),
                name="cc-report-action",
            ),
            path(
                "users/<uuid:user_id>/suspension",
                self.admin_view(views.SuspensionView.as_view(site=self)),
                name="cc-suspension",
            ),
            path("settings/", self.admin_view(views.SettingsView.as_view(site=self)), name="cc-settings"),
        ]
        return custom + super().get_urls()

    def index(self, request, extra_context=None):
        return views.DashboardView.as_view(site=self)(request)


control_center_site = ControlCenterSite(name="control_center")
