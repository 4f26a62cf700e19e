"""Account commands: the only code that creates users, profiles and devices."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from fcm_django.models import FCMDevice
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import AccountSuspended
from accounts.identifiers import normalize_email, normalize_phone
from accounts.login_throttle import login_failure_record, login_failures_clear, login_retry_after
from accounts.models import CustomerProfile, MitraProfile, Role, User
from config.errors import AppError, ConflictError, ErrorCode


def _identifiers(*, phone: str | None, email: str | None) -> tuple[str | None, str | None]:
    email = normalize_email(email or "") or None
    try:
        phone = normalize_phone(phone) if phone else None
    except ValueError as exc:
        raise AppError(ErrorCode.INVALID_INPUT, str(exc), errors={"phone": [str(exc)]}) from exc
    if not phone and not email:
        raise AppError(
            ErrorCode.INVALID_INPUT,
            "A phone number or an email address is required.",
            errors={"non_field_errors": ["A phone number or an email address is required."]},
        )
    return phone, email


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        messages = list(exc.messages)
        raise AppError(ErrorCode.INVALID_INPUT, messages[0], errors={"password": messages}) from exc


def _create_user(*, phone: str | None, email: str | None, password: str, role: str) -> User:
    phone, email = _identifiers(phone=phone, email=email)
    user = User(phone=phone, email=email, role=role, is_staff=role == Role.OPERATOR)
    _check_password(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():  # savepoint: a duplicate must not poison the outer transaction
            user.save(force_insert=True)
    except IntegrityError as exc:
        raise ConflictError(
            ErrorCode.ALREADY_REGISTERED, "An account with this phone number or email already exists."
        ) from exc
    return user


@transaction.atomic
def customer_register(*, call_name: str, password: str, phone: str | None = None, email: str | None = None) -> User:
    user = _create_user(phone=phone, email=email, password=password, role=Role.CUSTOMER)
    CustomerProfile.objects.create(user=user, call_name=call_name.strip())
    return user


@transaction.atomic
def mitra_create(*, display_name: str, password: str, phone: str | None = None, email: str | None = None) -> User:
    """Mitras are made by operators only (control center, /internal/mitras, createmitra)."""
    user = _create_user(phone=phone, email=email, password=password, role=Role.MITRA)
    MitraProfile.objects.create(user=user, display_name=display_name.strip())
    return user


def token_obtain(*, login: str, password: str, request=None) -> dict:
    """Check the credentials (rate-limited per login) and issue a JWT pair with the role claim."""
    retry_after = login_retry_after(login)
    if retry_after is not None:
        raise AppError(
            ErrorCode.TOO_MANY_LOGIN_ATTEMPTS,
            "Too many failed attempts. Try again later.",
            status=429,
            retry_after=retry_after,
            retry_after_seconds=retry_after,
        )
    user = authenticate(request, login=login, password=password)
    if user is None:
        login_failure_record(login)
        raise AppError(ErrorCode.INVALID_CREDENTIALS, "Wrong login or password.", status=401)
    login_failures_clear(login)
    if user.suspended_at is not None:
        raise AppError(ErrorCode.ACCOUNT_SUSPENDED, AccountSuspended.default_detail, status=401)
    refresh = _issue(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh), "role": user.role, "user_id": str(user.id)}


def _issue(user: User) -> RefreshToken:
    refresh = RefreshToken.for_user(user)  # recorded as outstanding by the blacklist app
    refresh["role"] = user.role
    return refresh


@transaction.atomic
def token_refresh(*, refresh: str) -> dict:
    """A new access token and a new refresh token for a valid, unused refresh token of an
    active account. The used one is blacklisted in the same transaction; of two
    concurrent uses exactly one wins (the blacklist row is unique per token)."""
    try:
        token = RefreshToken(refresh)  # signature, expiry, type, and not blacklisted
    except TokenError as exc:
        raise InvalidToken(str(exc)) from None
    user = User.objects.filter(**{jwt_settings.USER_ID_FIELD: token.get(jwt_settings.USER_ID_CLAIM)}).first()
    if user is None or not user.is_active:  # deleted or deactivated since
        raise InvalidToken("The account of this token can no longer sign in.")
    if user.suspended_at is not None:
        raise AccountSuspended()
    _, first_use = token.blacklist()  # get_or_create on a unique row: one use wins
    if not first_use:
        raise InvalidToken("Token is blacklisted")
    new = _issue(user)
    return {"access": str(new.access_token), "refresh": str(new)}


@transaction.atomic
def device_register(*, user: User, registration_id: str, device_type: str, name: str | None = None) -> FCMDevice:
    """Attach an FCM token to ``user``; a token seen before moves to the new owner
    (a phone handed to someone else must not receive the old owner's pushes)."""
    device, _ = FCMDevice.objects.update_or_create(  # locks the row it finds
        registration_id=registration_id,
        defaults={"user": user, "type": device_type, "active": True, "name": name or ""},
    )
    return device
