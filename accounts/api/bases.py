"""The role-gated ``APIView`` bases every app's views derive from (roles:
``accounts.permissions``)."""

from __future__ import annotations

from rest_framework.views import APIView

from accounts.permissions import IsCustomer, IsCustomerOrMitra, IsMitra, IsOperator


class CustomerApi(APIView):
    permission_classes = [IsCustomer]


class MitraApi(APIView):
    permission_classes = [IsMitra]


class CustomerOrMitraApi(APIView):
    permission_classes = [IsCustomerOrMitra]


class OperatorApi(APIView):
    permission_classes = [IsOperator]
