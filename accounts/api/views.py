"""Auth and device endpoints of API.md. Thin: validate, call a service, serialize."""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from config.throttling import rate_limit


@method_decorator(never_cache, name="dispatch")  # tokens and accounts: never stored by a cache
class RegisterApi(APIView):
    """Customer self sign-up. Mitra and operator accounts are made by operators."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [rate_limit("register", per="address")]
    error_statuses = (409,)  # already_registered

    class InputSerializer(serializers.Serializer):
        call_name = serializers.CharField(max_length=50, trim_whitespace=True)
        phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
        email = serializers.EmailField(required=False, allow_blank=True)
        password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        role = serializers.CharField()
        call_name = serializers.CharField(source="customer_profile.call_name")

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, auth=[])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.customer_register(**data.validated_data)
        return Response(self.OutputSerializer(user).data, status=status.HTTP_201_CREATED)


@method_decorator(never_cache, name="dispatch")  # tokens and accounts: never stored by a cache
class TokenObtainApi(APIView):
    """Log in with phone or email (``login``) and password. Failed attempts are limited per
    login (``accounts.login_throttle``); all attempts per address and overall."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [rate_limit("login_address", per="address"), rate_limit("login_all", per="all")]
    error_statuses = (401,)  # wrong login or password; 429 also for the per-login lockout

    class InputSerializer(serializers.Serializer):
        login = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()
        role = serializers.ChoiceField(choices=["customer", "mitra", "operator"])
        user_id = serializers.UUIDField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, auth=[])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = services.token_obtain(request=request, **data.validated_data)
        return Response(self.OutputSerializer(tokens).data)


@method_decorator(never_cache, name="dispatch")  # tokens and accounts: never stored by a cache
class TokenRefreshApi(APIView):
    """``{"refresh"}`` → ``{"access", "refresh"}``: the role claim is carried over, the
    used refresh token is refused from now on (rotation with simplejwt's blacklist)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [rate_limit("token_refresh", per="address")]
    error_statuses = (401,)  # an invalid, expired or used refresh token

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()

    def get_authenticate_header(self, request) -> str:
        # a refused token is 401 with a challenge (DRF turns 401 without one into 403)
        return 'Bearer realm="api"'

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, auth=[])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(self.OutputSerializer(services.token_refresh(refresh=data.validated_data["refresh"])).data)


class DeviceRegisterApi(APIView):
    """Register the caller's FCM token (fcm-django's ``FCMDevice``)."""

    throttle_classes = [rate_limit("devices")]

    class InputSerializer(serializers.Serializer):
        registration_id = serializers.CharField(max_length=4096)
        type = serializers.ChoiceField(choices=["android", "ios"])
        name = serializers.CharField(max_length=255, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        registration_id = serializers.CharField()
        type = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device = services.device_register(
            user=request.user,
            registration_id=data.validated_data["registration_id"],
            device_type=data.validated_data["type"],
            name=data.validated_data.get("name"),
        )
        return Response(self.OutputSerializer(device).data, status=status.HTTP_201_CREATED)

