"""Server-rendered control-center pages (inside the admin site: staff only).

They call the same services as ``/internal/``; a refused action comes back as a
message on the page, and nothing changes.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from accounts.services import mitra_create
from config.errors import AppError
from control_center import selectors
from failed_pairings.filters import PairingFailureFilter
from failed_pairings.models import OPERATOR_CHOICES, CauseTag
from failed_pairings.selectors import pairing_failures_list
from failed_pairings.services import failed_pairing_action
from live_settings.models import ConfigChange
from live_settings.registry import SETTINGS
from live_settings.selectors import config_all_fresh, config_changes_list
from live_settings.services import config_update, config_validate

PAGE_SIZE = 50


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
        return self.render(request, {"counts": selectors.dashboard_counts(), "mitras": selectors.mitra_dashboard_rows()})


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
    """The live part of the Mitra page, polled by the page every 5 s."""
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
        page = Paginator(selectors.failed_pairings_for_page(queryset), PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [{"failure": f, "money_allowed": selectors.money_action_possible(f)} for f in page.object_list]
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


# --- Settings --------------------------------------------------------------------------------------
class SettingsView(ControlCenterView):
    template_name = "control_center/settings.html"
    title = "Settings"

    def _fields(self, values: dict, errors: dict, submitted: dict | None = None) -> list[dict]:
        fields = []
        for key, spec in SETTINGS.items():
            shown = submitted.get(key, values[key]) if submitted else values[key]
            fields.append({"key": key, "spec": spec, "value": shown, "errors": errors.get(key, [])})
        return fields

    def get(self, request):
        return self.render(request, {"fields": self._fields(config_all_fresh(), {}), "history": config_changes_list(limit=50)})

    def post(self, request):
        current = config_all_fresh()
        submitted, errors = {}, {}
        for key, spec in SETTINGS.items():
            try:
                submitted[key] = spec.parse_form_value(request.POST.get(key))
            except ValueError as exc:
                submitted[key] = request.POST.get(key, "")
                errors[key] = [str(exc)]
        parsed = {k: v for k, v in submitted.items() if k not in errors}
        errors.update(config_validate(parsed))
        if errors:
            messages.error(request, "Nothing was saved: fix the highlighted settings.")
            context = {"fields": self._fields(current, errors, submitted), "history": config_changes_list(limit=50)}
            return self.render(request, context, status=400)
        changes = {k: v for k, v in parsed.items() if v != current[k] or type(v) is not type(current[k])}
        if changes:
            config_update(changes=changes, actor=request.user, source=ConfigChange.Source.CONTROL_CENTER)
            messages.success(request, f"Saved {len(changes)} setting(s); every process uses the new values now.")
        else:
            messages.info(request, "Nothing changed.")
        return HttpResponseRedirect(reverse("control_center:cc-settings"))
