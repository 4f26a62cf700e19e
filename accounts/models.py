from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from accounts.identifiers import normalize_email, normalize_phone


class Role(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    """Pays for sessions; signs up in the client app."""
    MITRA = "mitra", "Mitra"
    """A trained listener ("bestie"); accounts are made by operators only."""
    OPERATOR = "operator", "Operator"
    """Runs the service from the control center; always a staff user."""


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, *, email, phone, password, role, **extra):
        user = self.model(
            email=normalize_email(email) or None,
            phone=normalize_phone(phone) if phone else None,
            role=role,
            **extra,
        )
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, *, phone=None, role=Role.CUSTOMER, **extra):
        extra.setdefault("is_staff", role == Role.OPERATOR)
        return self._create(email=email, phone=phone, password=password, role=role, **extra)

    def create_superuser(self, email=None, password=None, *, phone=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email=email, phone=phone, password=password, role=Role.OPERATOR, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Everyone who signs in. Customers and mitras log in with phone or email."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=models.Func(function="gen_random_uuid"), editable=False)
    email = models.EmailField(unique=True, null=True, blank=True)
    phone = models.CharField(max_length=20, unique=True, null=True, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CUSTOMER)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the control center (operators only).")
    date_joined = models.DateTimeField(auto_now_add=True, db_default=Now())
    suspended_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Set while an operator has suspended the account (SPEC §12): its tokens and sockets are refused.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        db_table = "users"
        constraints = [
            models.CheckConstraint(
                condition=Q(email__isnull=False) | Q(phone__isnull=False),
                name="users_phone_or_email",
            ),
            # only operators are staff, and operators always are
            models.CheckConstraint(
                condition=Q(role=Role.OPERATOR, is_staff=True) | (~Q(role=Role.OPERATOR) & Q(is_staff=False)),
                name="users_staff_iff_operator",
            ),
        ]

    def __str__(self) -> str:
        return self.email or self.phone or str(self.id)

    @property
    def is_customer(self) -> bool:
        return self.role == Role.CUSTOMER

    @property
    def is_mitra(self) -> bool:
        return self.role == Role.MITRA

    @property
    def is_operator(self) -> bool:
        return self.role == Role.OPERATOR and self.is_staff

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None


class SuspensionAction(models.TextChoices):
    SUSPENDED = "suspended", "Suspended"
    REACTIVATED = "reactivated", "Reactivated"


class AccountSuspension(models.Model):
    """Append-only audit trail of suspensions and reactivations: who, why, when."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="suspensions")
    action = models.CharField(max_length=16, choices=SuspensionAction.choices)
    reason = models.CharField(max_length=1000)
    end_active_sessions = models.BooleanField(default=False, db_default=False)
    actor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "account_suspensions"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="idx_account_suspensions_user")]


class CustomerProfile(models.Model):
    """What a customer is called. ``call_name`` is the only customer field a mitra ever sees."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="customer_profile")
    call_name = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "customer_profiles"
        verbose_name = "user"
        verbose_name_plural = "Users"

    def __str__(self) -> str:
        return self.call_name


class MitraStatus(models.TextChoices):
    ONLINE = "online", "Online"
    """Taking new requests while below capacity."""
    OFFLINE = "offline", "Offline"
    """Not offered new requests; running sessions go on untouched."""


class MitraProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="mitra_profile")
    display_name = models.CharField(max_length=50)
    status = models.CharField(max_length=8, choices=MitraStatus.choices, default=MitraStatus.OFFLINE, db_default=MitraStatus.OFFLINE)
    status_changed_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "mitra_profiles"
        indexes = [models.Index(fields=["status"], name="idx_mitra_profiles_status")]

    def __str__(self) -> str:
        return self.display_name
