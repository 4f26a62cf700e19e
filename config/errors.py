"""The one application error type and its codes.

Services raise ``AppError``; ``config.exception_handler`` turns it (and DRF's own
exceptions) into API.md's shape ``{"code", "detail", ...extras}``. Codes are
constants so tests assert them exactly.
"""

from __future__ import annotations

from typing import Any


class ErrorCode:
    INVALID_INPUT = "invalid_input"
    INVALID_JSON = "invalid_json"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    SERVER_ERROR = "server_error"
    BAD_REQUEST = "bad_request"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    TOKEN_NOT_VALID = "token_not_valid"
    INVALID_CREDENTIALS = "invalid_credentials"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    SERVICE_UNAVAILABLE = "service_unavailable"
    TOO_MANY_LOGIN_ATTEMPTS = "too_many_login_attempts"
    CONFLICT = "conflict"
    ALREADY_REGISTERED = "already_registered"
    INVALID_CONFIG = "invalid_config"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    # payments
    INVALID_TIER = "invalid_tier"
    UNKNOWN_MITRA = "unknown_mitra"
    FREE_TRIAL_NOT_ALLOWED = "free_trial_not_allowed"
    FREE_TRIAL_NOT_ELIGIBLE = "free_trial_not_eligible"
    PAYMENT_NOT_USABLE = "payment_not_usable"
    PAYMENT_STATE_CONFLICT = "payment_state_conflict"
    PAYMENT_EXPIRED = "payment_expired"
    PAYMENT_NOT_SETTLED = "payment_not_settled"
    PAYMENT_PROVIDER_UNAVAILABLE = "payment_provider_unavailable"
    INVALID_SIGNATURE = "invalid_signature"
    UNKNOWN_ORDER = "unknown_order"
    AMOUNT_MISMATCH = "amount_mismatch"
    # pairing
    SESSION_NOT_ACTIVE = "session_not_active"
    REQUEST_UNAVAILABLE = "request_unavailable"
    ALREADY_MATCHED = "already_matched"
    ATTEMPT_ENDED = "attempt_ended"
    MITRA_OFFLINE = "mitra_offline"
    AT_CAPACITY = "at_capacity"
    TARGETED_UNAVAILABLE = "targeted_unavailable"
    NO_HISTORY_WITH_MITRA = "no_history_with_mitra"
    ALREADY_FELL_BACK = "already_fell_back"
    EARLY_END_DISABLED = "early_end_disabled"
    # extensions
    EXTENSION_PENDING = "extension_pending"
    EXTENSION_RESOLVED = "extension_resolved"
    # failed pairings
    ALREADY_ACTIONED = "already_actioned"
    MONEY_ACTION_NOT_ALLOWED = "money_action_not_allowed"
    # chat
    GOODBYE_ALREADY_SENT = "goodbye_already_sent"
    # safety and trust (SPEC §12)
    ACCOUNT_SUSPENDED = "account_suspended"
    MITRA_BLOCKED = "mitra_blocked"
    ALREADY_RATED = "already_rated"
    SESSION_NOT_COMPLETED = "session_not_completed"
    RATING_WINDOW_CLOSED = "rating_window_closed"
    ALERT_RESOLVED = "alert_resolved"
    # privacy (SPEC §13)
    ACTIVE_SESSION = "active_session"
    WRONG_PASSWORD = "wrong_password"


class AppError(Exception):
    """A refusal a client caused, with its HTTP status, code, human detail and extras."""

    status_code = 400

    def __init__(self, code: str, detail: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        if status is not None:
            self.status_code = status
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class ConflictError(AppError):
    status_code = 409


class NotFoundError(AppError):
    status_code = 404

    def __init__(self, detail: str = "Not found.", **extra: Any) -> None:
        super().__init__(ErrorCode.NOT_FOUND, detail, **extra)
