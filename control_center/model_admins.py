"""ModelAdmins of the control center: Sesi (chat sessions) and Users (customers)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import CustomerProfile
from config.errors import AppError
from control_center import selectors
from control_center.admin_site import control_center_site
from pairing.lifecycle import chat_end
from pairing.models import ChatSession, ChatStatus, EndedBy


class OperatorModelAdmin(admin.ModelAdmin):
    """Every operator may view what the control center lists; Django's per-model
    permissions are not used (operators are one role)."""

    def has_module_permission(self, request) -> bool:
        return self.admin_site.has_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.admin_site.has_permission(request)


@admin.register(ChatSession, site=control_center_site)
class SesiAdmin(OperatorModelAdmin):
    """Sessions by status. A session whose mitra went offline stays listed as it is
    (active): going offline never ends a session."""

    list_display = (
        "created_at", "timeline", "status", "request_type", "customer_call_name", "mitra_name", "mitra_status",
        "started_at", "ends_at", "ended_by", "ended_by_user",
    )
    list_filter = ("status", "request_type", "ended_by")
    list_select_related = ("customer__customer_profile", "mitra__mitra_profile", "ended_by_user")
    list_per_page = 50
    ordering = ("-created_at",)
    actions = ["end_sessions"]
    readonly_fields = [f.name for f in ChatSession._meta.fields]

    @admin.display(description="Customer")
    def customer_call_name(self, session) -> str:
        return session.customer.customer_profile.call_name

    @admin.display(description="Mitra")
    def mitra_name(self, session) -> str:
        return session.mitra.mitra_profile.display_name if session.mitra_id else "—"

    @admin.display(description="Mitra status")
    def mitra_status(self, session) -> str:
        return session.mitra.mitra_profile.status if session.mitra_id else "—"

    @admin.display(description="Timeline")
    def timeline(self, session) -> str:
        url = reverse("control_center:pairing_chatsession_timeline", args=[session.pk])
        return format_html('<a href="{}">Timeline<span class="visually-hidden"> of {}</span></a>', url, session.pk)

    def get_urls(self):
        # Django's documented way to add a page to a ModelAdmin (ModelAdmin.get_urls)
        timeline = path("<uuid:chat_session_id>/timeline/", self.admin_site.admin_view(self.timeline_view), name="pairing_chatsession_timeline")
        return [timeline, *super().get_urls()]

    def timeline_view(self, request, chat_session_id):
        """What happened to one session, in time order, without its messages' texts."""
        timeline = selectors.session_timeline(chat_session_id=chat_session_id)
        if timeline is None:
            raise Http404("No such session.")
        session = timeline["session"]
        context = {
            **self.admin_site.each_context(request),
            **timeline,
            "title": "Session timeline",
            "subtitle": f"{session.customer.customer_profile.call_name}, {timezone.localtime(session.created_at):%Y-%m-%d %H:%M}",
            "opts": self.opts,
            "changelist_url": reverse("control_center:pairing_chatsession_changelist"),
        }
        return TemplateResponse(request, "control_center/session_timeline.html", context)

    @admin.action(description="End selected sessions (operator)")
    def end_sessions(self, request, queryset):
        ended = 0
        for session_id in queryset.filter(status__in=[ChatStatus.ACTIVE, ChatStatus.CLOSING]).values_list("id", flat=True):
            try:
                session = chat_end(user=request.user, chat_session_id=session_id, ended_by=EndedBy.OPERATOR)
            except AppError as exc:
                self.message_user(request, f"{session_id}: {exc.detail}", messages.ERROR)
                continue
            self.log_change(request, session, "Ended by operator")
            ended += 1
        self.message_user(request, f"Ended {ended} session(s).", messages.SUCCESS if ended else messages.WARNING)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # the changelist must accept the action POST; objects themselves are read-only
        return self.admin_site.has_permission(request) and obj is None

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CustomerProfile, site=control_center_site)
class UsersAdmin(OperatorModelAdmin):
    """Customers with their contact details — for operators only (mitras never see these) —
    and whether each is suspended, with a link to the account's suspension page."""

    list_display = ("call_name", "email", "phone", "created_at", "suspended", "suspension")
    search_fields = ("call_name", "user__email", "user__phone")
    list_select_related = ("user",)
    list_per_page = 50
    ordering = ("-created_at",)
    readonly_fields = ("user", "call_name", "email", "phone", "created_at")
    fields = readonly_fields

    @admin.display(description="Email")
    def email(self, profile) -> str:
        return profile.user.email or "—"

    @admin.display(description="Phone")
    def phone(self, profile) -> str:
        return profile.user.phone or "—"

    @admin.display(description="Suspended")
    def suspended(self, profile) -> str:
        suspended_at = profile.user.suspended_at
        return f"since {timezone.localtime(suspended_at):%Y-%m-%d %H:%M}" if suspended_at else "—"

    @admin.display(description="Account")
    def suspension(self, profile) -> str:
        url = reverse("control_center:cc-suspension", args=[profile.user_id])
        return format_html('<a href="{}">{}</a>', url, "Reactivate…" if profile.user.suspended_at else "Suspend…")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
