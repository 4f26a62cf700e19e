"""The control center: a customized Django admin site for operators (staff only)."""

from __future__ import annotations

from django.contrib import admin

from accounts.models import CustomerProfile, MitraProfile, User
from live_settings.models import ConfigChange


class ControlCenterSite(admin.AdminSite):
    site_header = "Curhat Control Center"
    site_title = "Curhat Control Center"
    index_title = "Dashboard"

    def has_permission(self, request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and getattr(user, "is_operator", False))


control_center_site = ControlCenterSite(name="control_center")


@admin.register(User, site=control_center_site)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "phone", "role", "is_active", "date_joined")
    list_filter = ("role", "is_active")
    search_fields = ("email", "phone")
    fields = ("email", "phone", "role", "is_active", "is_staff", "date_joined", "last_login")
    readonly_fields = ("role", "is_staff", "date_joined", "last_login")

    def has_add_permission(self, request) -> bool:
        return False  # customers sign up in the app; mitras are made through the mitra form


@admin.register(MitraProfile, site=control_center_site)
class MitraAdmin(admin.ModelAdmin):
    list_display = ("display_name", "status", "status_changed_at")
    list_filter = ("status",)
    search_fields = ("display_name",)
    readonly_fields = ("status", "status_changed_at", "created_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(CustomerProfile, site=control_center_site)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("call_name", "user", "created_at")
    search_fields = ("call_name", "user__email", "user__phone")
    readonly_fields = ("user", "created_at")


@admin.register(ConfigChange, site=control_center_site)
class ConfigChangeAdmin(admin.ModelAdmin):
    list_display = ("changed_at", "key", "old_value", "new_value", "changed_by", "source")
    list_filter = ("key", "source")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
