"""Sign in with a phone number or an email address (the admin form's ``username`` too)."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from accounts.identifiers import looks_like_email, normalize_email, normalize_phone
from accounts.models import User


def user_for_login(login: str) -> User | None:
    login = (login or "").strip()
    if not login:
        return None
    try:
        if looks_like_email(login):
            return User.objects.get(email=normalize_email(login))
        return User.objects.get(phone=normalize_phone(login))
    except (User.DoesNotExist, ValueError):
        return None


class PhoneOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, login=None, **kwargs):
        user = user_for_login(login or username or kwargs.get(User.USERNAME_FIELD) or "")
        if user is None:
            # same cost as a real check, so timing does not tell which logins exist
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
