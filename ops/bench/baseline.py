"""P1's yardstick: the cheapest authenticated DRF view there is — a constant body
behind stateless JWT (no user query) and the customer role check. Routed only when
``CURHAT_BENCH=1`` (``make bench``), never in a normal deployment."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from accounts.permissions import IsCustomer


class BaselineApi(APIView):
    authentication_classes = [JWTStatelessUserAuthentication]
    permission_classes = [IsCustomer]

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"available": True})
