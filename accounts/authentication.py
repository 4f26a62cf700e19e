"""The API's bearer-token authentication: simplejwt's, refusing suspended accounts
(SPEC §12: 401 ``account_suspended``) as it refuses deactivated ones.

https://www.django-rest-framework.org/api-guide/authentication/#custom-authentication
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication, JWTStatelessUserAuthentication

from accounts.models import User
from accounts.suspended import suspended_users


class AccountSuspended(exceptions.AuthenticationFailed):
    default_detail = "This account is suspended. Contact Curhat support."
    default_code = "account_suspended"


class ActiveAccountJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        user = super().get_user(validated_token)  # unknown or inactive: 401 as before
        if user.suspended_at is not None:
            raise AccountSuspended()
        return user


class StatelessSuspensionAwareAuthentication(JWTStatelessUserAuthentication):
    """For the query-free availability poll: the token's claims, and the shared set of
    suspended accounts (``accounts.suspended``; a query only when it must be rebuilt)."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if suspended_users.suspended(user.id):  # suspended, or no longer active: read which
            account = User.objects.filter(id=user.id).values("is_active").first()
            if account is None or not account["is_active"]:
                raise exceptions.AuthenticationFailed("User is inactive", code="user_inactive")
            raise AccountSuspended()
        return user
