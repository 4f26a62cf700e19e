"""drf-spectacular schema class for our views' nested ``InputSerializer`` /
``OutputSerializer`` classes (HackSoft style): their component names come from the
view (``RegisterApiInput``), so two views never collide on "Input"/"Output".

https://drf-spectacular.readthedocs.io/en/latest/customization.html
"""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme, SimpleJWTStatelessUserScheme
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorSerializer(serializers.Serializer):
    """API.md's error shape; some errors add fields (``retry_after``, ``errors``, …)."""

    code = serializers.CharField(help_text="A fixed snake_case code, e.g. not_found, rate_limited.")
    detail = serializers.CharField(help_text="Human-readable text.")

    class Meta:
        ref_name = "Error"


# what each status means here (API.md), for the documented error responses
_ERRORS = {
    400: "Bad input (invalid_input, invalid_json, or another 400 code).",
    401: "No, invalid or expired token, refused credentials, or a suspended account (account_suspended).",
    403: "Wrong role, or not yours (a gateway notification: invalid_signature).",
    404: "Unknown id (also someone else's), or not found.",
    409: "The state does not allow it now (the code says why).",
    413: "The request body is over the size limit (payload_too_large).",
    415: "The body is not JSON (unsupported_media_type).",
    422: "The Idempotency-Key was used with another body (idempotency_key_reused).",
    429: "Too many requests (rate_limited, with retry_after and a Retry-After header).",
    502: "The payment gateway could not be reached in time (payment_provider_unavailable).",
    503: "PostgreSQL or Redis is briefly unreachable (service_unavailable, Retry-After).",
}
_WRITES = ("POST", "PUT", "PATCH", "DELETE")


class CurhatAutoSchema(AutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        cls = serializer.__class__
        outer, _, inner = cls.__qualname__.rpartition(".")
        if outer and inner.endswith("Serializer"):
            return outer.replace(".", "") + inner.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)

    def error_statuses(self) -> set[int]:
        """The error statuses this operation can answer (API.md's conventions applied to
        the view): every request can be bad or meet an outage; a protected view adds
        401/403/404; a body adds 413/415; a write 409 and 422; a rate limit 429. A view
        adds its own with ``error_statuses`` (e.g. the login's 401 and 429)."""
        statuses = {400, 503}
        protected = any(not isinstance(p, AllowAny) for p in self.view.get_permissions())
        if protected:
            statuses |= {401, 403, 404}
        if self.method in _WRITES:
            statuses |= {413, 415}
            if protected:
                statuses |= {409, 422}
        if self.view.get_throttles():
            statuses.add(429)
        return statuses | set(getattr(self.view, "error_statuses", ()))

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in sorted(self.error_statuses()):
            if str(status) not in responses:
                response = self._get_response_for_code(ErrorSerializer, str(status), direction=direction)
                response["description"] = _ERRORS[status]
                responses[str(status)] = response
        return responses


class ActiveAccountJWTScheme(SimpleJWTScheme):
    """The Bearer access token of an account that is active and not suspended."""

    target_class = "accounts.authentication.ActiveAccountJWTAuthentication"


class StatelessJWTScheme(SimpleJWTStatelessUserScheme):
    """The same Bearer access token, checked from its claims only (hot polls)."""

    name = "jwtStatelessAuth"
    priority = 1


class StatelessSuspensionAwareJWTScheme(StatelessJWTScheme):
    target_class = "accounts.authentication.StatelessSuspensionAwareAuthentication"
