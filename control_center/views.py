"""Server-rendered control-center pages (inside the admin site: staff only).

They call the same services as ``/internal/``; a refused action comes back as a
message on the page, and nothing changes. Live pages (Safety, the Dashboard's counts)
follow ``/ws/operator/`` for instant updates and also poll a JSON view every
``LIVE_POLL_SECONDS`` in case the socket is down (``static/control_center/operator_live.js``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views import View

from accounts.models import Role
from accounts.services import mitra_create
from config.errors import AppError
from control_center import selectors
from control_center.charts import daily_chart
from failed_pairings.filters import PairingFailureFilter
from failed_pairings.models import OPERATOR_CHOICES, CauseTag
from failed_pairings.selectors import money_action_possible, pairing_failures_list, pairing_failures_with_money_action_state
from failed_pairings.services import failed_pairing_action
from live_settings.models import ConfigChange
from live_settings.registry import RESOURCE_FIELDS, SETTINGS
from live_settings.selectors import config_all_fresh, config_changes_list
from live_settings.services import config_update, config_validate
from privacy.services import mitra_erase
from safety.crisis import MAX_NOTE_LENGTH, safety_alert_action
from safety.models import ALERT_ACTIONS, REPORT_ACTIONS, AlertStatus, ReportStatus
from safety.services import MAX_REASON_LENGTH, account_reactivate, account_suspend, report_action

PAGE_SIZE = 50
LIVE_POLL_SECONDS = 15
"""How often a live page polls its JSON view besides following the websocket."""


class ControlCenterView(View):
    site = None
    template_name = ""
    title = ""

    def render(self, request, context: dict, status: int = 200):
        base = {**self.site.each_context(request), "title": self.title}
        return render(request, self.template_name, {**base, **context}, status=status)


# --- Dashboard --------------------------------------------------------------------------
class DashboardView(ControlCenterView):
    template_name = "control_center/dashboard.html"
    title = "Dashboard"

    def get(self, request):
        days = selectors.dashboard_days()
        return self.render(
            request,
            {
                "counts": selectors.dashboard_counts(), "mitras": selectors.mitra_dashboard_rows(), "poll_seconds": LIVE_POLL_SECONDS,
                "today": days[-1], "days": days, "chart": daily_chart(days),
            },
        )


def safety_counts_data(request):
    """Open alerts and reports, for the Dashboard's live cards."""
    return JsonResponse(selectors.safety_counts())


# --- Mitra ------------------------------------------------------------------------------------
class MitraCreateForm(forms.Form):
    display_name = forms.CharField(label="Display name", max_length=50)
    email = forms.EmailField(label="Email", required=False)
    phone = forms.CharField(label="Phone", max_length=32, required=False)
    password = forms.CharField(label="Password", widget=forms.PasswordInput, min_length=8)

    def clean(self):
        data = super().clean()
        if not data.get("email") and not data.get("phone"):
            raise forms.ValidationError("Give an email or a phone number.")
        return data


class MitraDashboardView(ControlCenterView):
    template_name = "control_center/mitras.html"
    title = "Mitra"

    def get(self, request):
        return self.render(request, {"mitras": selectors.mitra_dashboard_rows(), "form": MitraCreateForm()})

    def post(self, request):
        form = MitraCreateForm(request.POST)
        if form.is_valid():
            try:
                user = mitra_create(**form.cleaned_data)
            except AppError as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, f"Mitra {user.mitra_profile.display_name} created (offline until they go online).")
                return HttpResponseRedirect(reverse("control_center:cc-mitras"))
        return self.render(request, {"mitras": selectors.mitra_dashboard_rows(), "form": form}, status=400)


def mitra_dashboard_data(request):
    """The live part of the Mitra page, polled by the page every 5 s (rating averages
    and suspension ride along: the table's JS draws every column)."""
    rows = selectors.mitra_dashboard_rows()
    for row in rows:
        row["status_changed_at"] = row["status_changed_at"].isoformat()
    return JsonResponse({"mitras": rows})


# --- Failed Pairings ---------------------------------------------------------------------------
class FailedPairingsView(ControlCenterView):
    template_name = "control_center/failed_pairings.html"
    title = "Failed Pairings"

    def get(self, request):
        selected_causes = [c for c in request.GET.getlist("cause_tags") for c in c.split(",") if c]
        data = {
            "cause_tags": ",".join(selected_causes),
            "created_from": request.GET.get("created_from", ""),
            "created_to": request.GET.get("created_to", ""),
        }
        filterset = PairingFailureFilter(data=data, queryset=pairing_failures_list())
        errors = {}
        if filterset.is_valid():
            queryset = filterset.qs
        else:
            errors = {name: " ".join(msgs) for name, msgs in filterset.errors.items()}
            queryset = pairing_failures_list().none()
        page = Paginator(pairing_failures_with_money_action_state(queryset), PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [{"failure": f, "money_allowed": money_action_possible(f)} for f in page.object_list]
        filters_query = urlencode([("cause_tags", c) for c in selected_causes] + [(k, v) for k, v in data.items() if k != "cause_tags" and v])
        return self.render(
            request,
            {
                "rows": rows,
                "page": page,
                "causes": CauseTag.choices,
                "selected_causes": selected_causes,
                "created_from": data["created_from"],
                "created_to": data["created_to"],
                "filter_errors": errors,
                "filters_query": filters_query,
                "actions": [(a.value, a.label) for a in OPERATOR_CHOICES],
                "return_to": request.get_full_path(),
            },
            status=400 if errors else 200,
        )


class FailedPairingActionView(ControlCenterView):
    ACTION_LABELS = {"refunded": "Mark as refunded", "credited": "Mark as credited", "no_action": "Mark as no-action"}
    SAVED_AS = {"refund_pending": "Refund asked of the payment gateway: the row shows its answer shortly."}

    def post(self, request, failure_id):
        action = request.POST.get("action", "")
        note = request.POST.get("note", "")[:2000]
        back = request.POST.get("return_to") or reverse("control_center:cc-failed-pairings")
        if not back.startswith(reverse("control_center:cc-failed-pairings")):
            back = reverse("control_center:cc-failed-pairings")
        if action not in OPERATOR_CHOICES:
            messages.error(request, "Choose an action.")
            return HttpResponseRedirect(back)
        try:
            failure = failed_pairing_action(failure_id=failure_id, action=action, actor=request.user, note=note)
        except AppError as exc:
            messages.error(request, f"Not saved: {exc.detail}")
        else:
            messages.success(
                request, self.SAVED_AS.get(failure.operator_action, f"{self.ACTION_LABELS[action]}: saved. The row is now locked.")
            )
        return HttpResponseRedirect(back)


# --- Safety and Reports (SPEC §12) --------------------------------------------------------------
def _back_to(request, page_url: str) -> str:
    """Where an action's form returns: the page it was posted from (its filter and page
    number kept), never another site."""
    back = request.POST.get("return_to") or page_url
    return back if back.startswith(page_url) else page_url


def _status_filter(request, choices) -> tuple[str, dict]:
    """The ``status`` filter: "" is every status, open first."""
    status = request.GET.get("status", "")
    if status and status not in {value for value, _ in choices}:
        return status, {"status": f"Unknown status {status!r}."}
    return status, {}


def _pager_query(status: str) -> str:
    return urlencode({"status": status}) if status else ""


ALERT_STATUS_FILTER = [(s.value, s.label) for s in AlertStatus]
ALERT_ACTION_LABELS = {
    AlertStatus.ACKNOWLEDGED: "Acknowledged",
    AlertStatus.CONTACTED: "Contacted",
    AlertStatus.ESCALATED: "Escalated",
    AlertStatus.RESOLVED: "Resolved (final)",
}


class SafetyView(ControlCenterView):
    """Crisis alerts, open first, with each session's recent messages for context (the
    only place operators read a session's messages) and the audit trail. Live: the page
    follows ``safety_alert`` on ``/ws/operator/`` and polls ``safety/live.json``."""

    template_name = "control_center/safety.html"
    title = "Safety"

    def get(self, request):
        data = safety_page_data(request)
        return self.render(
            request,
            {
                **data,
                "statuses": ALERT_STATUS_FILTER,
                "filters_query": _pager_query(data["status"]),
                "live_url": reverse("control_center:cc-safety-data") + (f"?{request.GET.urlencode()}" if request.GET else ""),
                "poll_seconds": LIVE_POLL_SECONDS,
            },
            status=400 if data["filter_errors"] else 200,
        )


def safety_page_data(request) -> dict:
    """One page of alerts as the Safety page and its live JSON both show it."""
    status, errors = _status_filter(request, ALERT_STATUS_FILTER)
    queryset = selectors.safety_alerts_for_page(status=status or None)
    if errors:
        queryset = queryset.none()
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "status": status,
        "filter_errors": errors,
        "page": page,
        "rows": selectors.alert_rows(page.object_list),
        "open_alerts": selectors.open_alert_count(),
        "actions": [(a.value, ALERT_ACTION_LABELS[a]) for a in ALERT_ACTIONS],
        "return_to": reverse("control_center:cc-safety") + (f"?{request.GET.urlencode()}" if request.GET else ""),
        "note_max": MAX_NOTE_LENGTH,
    }


def safety_page_live(request):
    """The Safety page's rows, each rendered as the page renders it, for the page's
    script to put in place of what changed (``safety_page.js``)."""
    data = safety_page_data(request)
    shared = {"actions": data["actions"], "return_to": data["return_to"], "note_max": data["note_max"]}
    rows = [
        {
            "id": str(row["alert"].id),
            "status": row["alert"].status,
            "version": row["version"],
            "html": render_to_string("control_center/safety_row.html", {**shared, "row": row}, request=request),
        }
        for row in data["rows"]
    ]
    count = data["page"].paginator.count
    return JsonResponse(
        {"open_alerts": data["open_alerts"], "count": count, "result_count": f"{count} alert{'s' if count != 1 else ''}", "rows": rows},
        status=400 if data["filter_errors"] else 200,
    )


class SafetyAlertActionView(ControlCenterView):
    def post(self, request, alert_id):
        back = _back_to(request, reverse("control_center:cc-safety"))
        action = request.POST.get("action", "")
        try:
            alert = safety_alert_action(alert_id=alert_id, action=action, actor=request.user, note=request.POST.get("note", ""))
        except AppError as exc:
            messages.error(request, f"Not saved: {exc.detail}")
        else:
            messages.success(request, f"Alert \u201c{alert.phrase}\u201d: {alert.get_status_display().lower()}, kept in its audit trail.")
        return HttpResponseRedirect(back)


REPORT_STATUS_FILTER = [(s.value, s.label) for s in ReportStatus]
REPORT_ACTION_LABELS = {
    ReportStatus.DISMISSED: "Dismiss",
    ReportStatus.WARNED: "Warn",
    ReportStatus.SUSPENDED: "Suspend account",
}


class ReportsView(ControlCenterView):
    """Reports of one side of a session by the other, open first, with the decision's
    audit trail. A decision is final (the server refuses a second one)."""

    template_name = "control_center/reports.html"
    title = "Reports"

    def get(self, request):
        status, errors = _status_filter(request, REPORT_STATUS_FILTER)
        queryset = selectors.reports_for_page(status=status or None)
        if errors:
            queryset = queryset.none()
        page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [
            {"report": r, "reporter_name": selectors.person_name(r.reporter), "reported_name": selectors.person_name(r.reported)}
            for r in page.object_list
        ]
        return self.render(
            request,
            {
                "rows": rows,
                "page": page,
                "status": status,
                "statuses": REPORT_STATUS_FILTER,
                "filter_errors": errors,
                "filters_query": _pager_query(status),
                "open_reports": selectors.open_report_count(),
                "actions": [(a.value, REPORT_ACTION_LABELS[a]) for a in REPORT_ACTIONS],
                "return_to": request.get_full_path(),
                "note_max": MAX_NOTE_LENGTH,
            },
            status=400 if errors else 200,
        )


class ReportActionView(ControlCenterView):
    def post(self, request, report_id):
        back = _back_to(request, reverse("control_center:cc-reports"))
        try:
            report = report_action(
                report_id=report_id, action=request.POST.get("action", ""), actor=request.user,
                note=request.POST.get("note", ""), end_active_sessions=request.POST.get("end_active_sessions") == "on",
            )
        except AppError as exc:
            messages.error(request, f"Not saved: {exc.detail}")
        else:
            done = {
                ReportStatus.DISMISSED: "dismissed",
                ReportStatus.WARNED: "marked as warned",
                ReportStatus.SUSPENDED: "decided: the reported account is suspended",
            }[report.status]
            messages.success(request, f"Report {done}. The decision is in its audit trail.")
        return HttpResponseRedirect(back)


# --- Suspension (SPEC §12) -------------------------------------------------------------------------
class SuspensionForm(forms.Form):
    action = forms.ChoiceField(choices=[("suspend", "Suspend"), ("reactivate", "Reactivate")], widget=forms.HiddenInput)
    reason = forms.CharField(
        label="Reason", max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "A reason is required."},
    )
    end_active_sessions = forms.BooleanField(label="End active sessions now", required=False)


class SuspensionView(ControlCenterView):
    """One account's suspension: who it is, whether it is suspended, the audit trail,
    and the form. Suspending takes two steps (the second shows what will happen);
    reactivating one. Both need a reason; the services decide and audit."""

    template_name = "control_center/suspension.html"
    title = "Suspension"

    def _account(self, user_id) -> dict:
        account = selectors.account_for_suspension(user_id=user_id)
        if account is None:
            raise Http404("No such account.")
        return account

    def _render(self, request, account, form, *, confirming=False, status=200):
        user = account["account"]
        if form is None:
            action = "reactivate" if user.is_suspended else "suspend"
            form = SuspensionForm(initial={"action": action})
        return self.render(
            request,
            {
                **account,
                "subtitle": account["name"] or str(user),
                "form": form,
                "confirming": confirming,
                "suspendable": user.role in (Role.CUSTOMER, Role.MITRA),
                "back_url": self._back_url(user),
            },
            status=status,
        )

    @staticmethod
    def _back_url(user) -> str:
        if user.role == Role.MITRA:
            return reverse("control_center:cc-mitras")
        return reverse("control_center:accounts_customerprofile_changelist")

    def get(self, request, user_id):
        return self._render(request, self._account(user_id), None)

    def post(self, request, user_id):
        account = self._account(user_id)
        form = SuspensionForm(request.POST)
        if not form.is_valid():
            return self._render(request, account, form, status=400)
        data = form.cleaned_data
        if data["action"] == "suspend" and request.POST.get("confirm") != "yes":
            return self._render(request, account, form, confirming=True)
        try:
            if data["action"] == "suspend":
                user = account_suspend(
                    user_id=user_id, actor=request.user, reason=data["reason"], end_active_sessions=data["end_active_sessions"]
                )
            else:
                user = account_reactivate(user_id=user_id, actor=request.user, reason=data["reason"])
        except AppError as exc:
            messages.error(request, f"Not saved: {exc.detail}")
            return self._render(request, self._account(user_id), form, status=400)
        name = account["name"] or str(user)
        if user.is_suspended:
            ended = " Their active sessions were ended." if data["end_active_sessions"] else " Their active sessions go on."
            messages.success(request, f"{name} is suspended.{ended}")
        else:
            messages.success(request, f"{name} is active again.")
        return HttpResponseRedirect(reverse("control_center:cc-suspension", args=[user_id]))


# --- Erasure of a mitra (SPEC §13) --------------------------------------------------------------
class ErasureForm(forms.Form):
    reason = forms.CharField(
        label="Reason", max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "A reason is required."},
    )


class MitraErasureView(ControlCenterView):
    """Erase a mitra's personal data (SPEC §13: mitras are erased by operators). Two
    steps, as a suspension: the form (a reason, kept in the audit row), then a
    confirmation that says what goes and what stays. ``privacy.services.mitra_erase``
    decides (refused while a session of theirs is live) and audits; once erased the
    page shows who erased them, when and why."""

    template_name = "control_center/erasure.html"
    title = "Erase mitra"

    def _mitra(self, user_id) -> dict:
        mitra = selectors.mitra_for_erasure(user_id=user_id)
        if mitra is None:
            raise Http404("No such mitra.")
        return mitra

    def _render(self, request, mitra, form, *, confirming=False, status=200):
        return self.render(
            request, {**mitra, "subtitle": mitra["name"], "form": form or ErasureForm(), "confirming": confirming}, status=status
        )

    def get(self, request, user_id):
        return self._render(request, self._mitra(user_id), None)

    def post(self, request, user_id):
        mitra = self._mitra(user_id)
        form = ErasureForm(request.POST)
        if not form.is_valid():
            return self._render(request, mitra, form, status=400)
        if request.POST.get("confirm") != "yes":
            return self._render(request, mitra, form, confirming=True)
        try:
            mitra_erase(mitra_id=user_id, actor=request.user, reason=form.cleaned_data["reason"])
        except AppError as exc:
            messages.error(request, f"Not erased: {exc.detail}")
            return self._render(request, self._mitra(user_id), form, status=exc.status_code)
        messages.success(request, f"{mitra['name']} is erased: their personal data is gone; the accounting rows stay.")
        return HttpResponseRedirect(reverse("control_center:cc-mitra-erasure", args=[user_id]))


# --- Settings --------------------------------------------------------------------------------------
SPARE_ROWS = {"phrases": 3, "resources": 2}
"""Empty rows a list editor renders besides the stored items: with JavaScript off, an
operator adds items by filling them (rows left empty are dropped on save); with it on,
the script removes them and offers "Add" instead."""


def readable_setting(value) -> str:
    """A setting's value as the history table shows it: lists item by item."""
    if isinstance(value, list):
        if all(isinstance(item, dict) for item in value):
            return "; ".join(" · ".join(str(item.get(f, "")) for f in RESOURCE_FIELDS if item.get(f)) for item in value)
        return ", ".join(str(item) for item in value)
    return str(value)


def setting_change_summary(change) -> str:
    """For a list setting, what an operator changed: "Added: …. Removed: …."."""
    old, new = change.old_value, change.new_value
    if not (isinstance(old, list) and isinstance(new, list)):
        return ""
    parts = []
    added = [readable_setting([item]) for item in new if item not in old]
    removed = [readable_setting([item]) for item in old if item not in new]
    if added:
        parts.append("Added: " + ", ".join(added) + ".")
    if removed:
        parts.append("Removed: " + ", ".join(removed) + ".")
    return " ".join(parts) or "Reordered or edited."


class SettingsView(ControlCenterView):
    template_name = "control_center/settings.html"
    title = "Settings"

    def _fields(self, values: dict, errors: dict, submitted: dict | None = None) -> list[dict]:
        fields = []
        for key, spec in SETTINGS.items():
            shown = submitted.get(key, values[key]) if submitted else values[key]
            fields.append(
                {"key": key, "spec": spec, "value": shown, "errors": errors.get(key, []), "spare": range(SPARE_ROWS.get(spec.kind, 0))}
            )
        return fields

    def _history(self) -> list[dict]:
        return [
            {
                "change": change,
                "old": readable_setting(change.old_value),
                "new": readable_setting(change.new_value),
                "summary": setting_change_summary(change),
            }
            for change in config_changes_list(limit=50)
        ]

    def get(self, request):
        return self.render(request, {"fields": self._fields(config_all_fresh(), {}), "history": self._history()})

    def post(self, request):
        current = config_all_fresh()
        submitted, errors = {}, {}
        for key, spec in SETTINGS.items():
            try:
                submitted[key] = spec.parse_form(request.POST)
            except ValueError as exc:
                submitted[key] = request.POST.get(key, "")
                errors[key] = [str(exc)]
        parsed = {k: v for k, v in submitted.items() if k not in errors}
        errors.update(config_validate(parsed))
        if errors:
            messages.error(request, "Nothing was saved: fix the highlighted settings.")
            context = {"fields": self._fields(current, errors, submitted), "history": self._history()}
            return self.render(request, context, status=400)
        changes = {k: v for k, v in parsed.items() if v != current[k] or type(v) is not type(current[k])}
        if changes:
            config_update(changes=changes, actor=request.user, source=ConfigChange.Source.CONTROL_CENTER)
            messages.success(request, f"Saved {len(changes)} setting(s); every process uses the new values now.")
        else:
            messages.info(request, "Nothing changed.")
        return HttpResponseRedirect(reverse("control_center:cc-settings"))
