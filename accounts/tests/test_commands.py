import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import CustomerProfile, MitraProfile, Role, User
from payments.models import PricingTier

pytestmark = pytest.mark.django_db


def test_createmitra_makes_an_offline_mitra():
    call_command("createmitra", "--display-name", "Bestie Lia", "--email", "lia@example.test", "--password", "s3cret-pass-123")

    mitra = MitraProfile.objects.select_related("user").get()
    assert (mitra.display_name, mitra.status, mitra.user.role, mitra.user.is_staff) == ("Bestie Lia", "offline", Role.MITRA, False)


def test_createmitra_refuses_a_taken_email_and_changes_nothing():
    call_command("createmitra", "--display-name", "A", "--email", "lia@example.test", "--password", "s3cret-pass-123")

    with pytest.raises(CommandError, match="already_registered"):
        call_command("createmitra", "--display-name", "B", "--email", "lia@example.test", "--password", "s3cret-pass-123")
    assert MitraProfile.objects.count() == 1


def test_seed_demo_is_idempotent_and_every_demo_login_works():
    call_command("seed_demo")
    counts = (User.objects.count(), MitraProfile.objects.count(), CustomerProfile.objects.count(), PricingTier.objects.count())
    call_command("seed_demo")

    assert counts == (6, 3, 2, 4)
    assert (User.objects.count(), MitraProfile.objects.count(), CustomerProfile.objects.count(), PricingTier.objects.count()) == counts
    assert set(MitraProfile.objects.values_list("status", flat=True)) == {"offline"}
    tiers = set(PricingTier.objects.values_list("kind", "name", "amount", "duration_minutes"))
    assert tiers == {
        ("session", "30 menit", 50_000, 30), ("session", "60 menit", 90_000, 60),
        ("extension", "15 menit", 25_000, 15), ("extension", "30 menit", 45_000, 30),
    }
    client = APIClient()
    for login, role in [
        ("operator@curhat.local", "operator"), ("mitra1@curhat.local", "mitra"), ("mitra3@curhat.local", "mitra"),
        ("customer1@curhat.local", "customer"), ("customer2@curhat.local", "customer"),
    ]:
        response = client.post("/api/auth/token", {"login": login, "password": "curhat-demo-123"}, format="json")
        assert response.status_code == 200 and response.json()["role"] == role, login


def test_demo_operator_can_sign_in_to_the_control_center(client):
    call_command("seed_demo")

    response = client.post(
        "/admin/login/?next=/admin/", {"username": "operator@curhat.local", "password": "curhat-demo-123"}
    )

    assert response.status_code == 302 and response.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_mitra_cannot_sign_in_to_the_control_center(client, make_mitra):
    mitra = make_mitra()

    response = client.post("/admin/login/?next=/admin/", {"username": mitra.email, "password": "s3cret-pass-123"})

    assert response.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302
