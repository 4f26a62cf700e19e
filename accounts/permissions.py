"""Role permissions. A missing/invalid token is 401 (DRF), a wrong role 403."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from accounts.models import Role


def request_role(request) -> str | None:
    user = request.user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    role = getattr(user, "role", None)
    if role is None and request.auth is not None:  # stateless token user: read the claim
        role = request.auth.get("role")
    return role


class IsCustomer(BasePermission):
    message = "Only customers may do this."

    def has_permission(self, request, view) -> bool:
        return request_role(request) == Role.CUSTOMER


class IsMitra(BasePermission):
    message = "Only mitras may do this."

    def has_permission(self, request, view) -> bool:
        return request_role(request) == Role.MITRA


class IsOperator(BasePermission):
    """Operators are staff users: by JWT or by the control-center session."""

    message = "Only operators may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user is not None
            and getattr(user, "is_authenticated", False)
            and getattr(user, "is_staff", False)
            and getattr(user, "is_active", False)
            and request_role(request) == Role.OPERATOR
        )


class IsCustomerOrMitra(BasePermission):
    message = "Only customers and mitras may do this."

    def has_permission(self, request, view) -> bool:
        return request_role(request) in (Role.CUSTOMER, Role.MITRA)
