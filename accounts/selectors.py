from __future__ import annotations

from accounts.models import CustomerProfile, MitraProfile


def customer_call_name(*, user_id) -> str:
    return CustomerProfile.objects.values_list("call_name", flat=True).get(user_id=user_id)


def mitra_profile_get(*, user_id) -> MitraProfile:
    return MitraProfile.objects.select_related("user").get(user_id=user_id)
