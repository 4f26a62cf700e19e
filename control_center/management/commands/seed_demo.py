"""``manage.py seed_demo``: the demo data of SPEC §10. Idempotent: running it again
changes nothing (existing accounts keep their passwords, mitras their status)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import CustomerProfile, MitraProfile, MitraStatus, Role, User
from payments.models import PricingTier, TierKind

DEMO_PASSWORD = "curhat-demo-123"
MITRAS = [("mitra1@curhat.local", "Bestie Sari"), ("mitra2@curhat.local", "Bestie Dimas"), ("mitra3@curhat.local", "Bestie Rani")]
CUSTOMERS = [("customer1@curhat.local", "Ayu"), ("customer2@curhat.local", "Budi")]
TIERS = [
    ("30 menit", 50_000, 30, TierKind.SESSION, 1),
    ("60 menit", 90_000, 60, TierKind.SESSION, 2),
    ("15 menit", 25_000, 15, TierKind.EXTENSION, 1),
    ("30 menit", 45_000, 30, TierKind.EXTENSION, 2),
]


class Command(BaseCommand):
    help = "Create the demo accounts and pricing tiers (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        created = []

        def user(email, role):
            obj, was_created = User.objects.get_or_create(
                email=email, defaults={"role": role, "is_staff": role == Role.OPERATOR, "is_superuser": role == Role.OPERATOR}
            )
            if was_created:
                obj.set_password(DEMO_PASSWORD)
                obj.save(update_fields=["password"])
                created.append(email)
            return obj

        user("operator@curhat.local", Role.OPERATOR)
        for email, display_name in MITRAS:
            MitraProfile.objects.get_or_create(
                user=user(email, Role.MITRA), defaults={"display_name": display_name, "status": MitraStatus.OFFLINE}
            )
        for email, call_name in CUSTOMERS:
            CustomerProfile.objects.get_or_create(user=user(email, Role.CUSTOMER), defaults={"call_name": call_name})
        for name, amount, minutes, kind, order in TIERS:
            _, was_created = PricingTier.objects.get_or_create(
                kind=kind, name=name, defaults={"amount": amount, "duration_minutes": minutes, "order": order}
            )
            if was_created:
                created.append(f"tier {kind} {name}")
        self.stdout.write(f"seed_demo: {len(created)} created" + (f" ({', '.join(created)})" if created else ", nothing to do"))
