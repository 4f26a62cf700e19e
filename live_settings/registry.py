"""Every runtime setting of SPEC §2: default, type, range, label. The one source of truth
for validation, the API, the control-center form and the cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class AutoAction:
    APPROVE = "auto_approve"
    REJECT = "auto_reject"


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: Any
    kind: str  # "int" | "bool" | "choice"
    label: str
    help_text: str
    unit: str = ""
    min_value: int | None = None
    max_value: int | None = None
    choices: tuple[tuple[str, str], ...] = ()

    def validate(self, value: Any) -> Any:
        """Return ``value`` if it is valid for this key; raise ValueError with a readable message."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError("Must be true or false.")
            return value
        if self.kind == "int":
            # bool is an int in Python; "5" and 5.0 are not accepted either: the type is part of the contract
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("Must be a whole number.")
            if not (self.min_value <= value <= self.max_value):
                raise ValueError(f"Must be between {self.min_value} and {self.max_value}{' ' + self.unit if self.unit else ''}.")
            return value
        allowed = [choice for choice, _ in self.choices]
        if value not in allowed:
            raise ValueError(f"Must be one of: {', '.join(allowed)}.")
        return value

    def parse_form_value(self, raw: str | None) -> Any:
        """Turn an HTML form value into the typed value (then ``validate`` it)."""
        if self.kind == "bool":
            return raw in ("on", "true", "1", "yes")
        if self.kind == "int":
            try:
                return int(str(raw).strip())
            except (TypeError, ValueError):
                raise ValueError("Must be a whole number.") from None
        return raw


def _seconds(key: str, default: int, label: str, help_text: str, *, min_value: int = 1) -> SettingSpec:
    return SettingSpec(key, default, "int", label, help_text, unit="detik", min_value=min_value, max_value=600)


SETTINGS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec(
            "max_customers_per_mitra", 1, "int", "Maksimal Customer per Bestie",
            "Concurrent active sessions a mitra may hold.", unit="customer", min_value=1, max_value=20,
        ),
        _seconds(
            "pairing_blast_timeout_seconds", 60, "Batas Waktu Blast Pairing",
            "How long a general blast waits for a mitra to accept.",
        ),
        SettingSpec(
            "payment_session_timeout_minutes", 20, "int", "Batas Waktu Sesi Pembayaran",
            "A payment session's life before the sweeper expires it.", unit="menit", min_value=1, max_value=1440,
        ),
        _seconds(
            "returning_chat_confirmation_timeout_seconds", 20, "Batas Waktu Konfirmasi Chat Lanjutan",
            "The targeted mitra's window to answer a \"Curhat lagi\" request.",
        ),
        _seconds(
            "extension_timeout_seconds", 10, "Batas Waktu Jawaban Extension",
            "The mitra's window to answer an extension request.",
        ),
        SettingSpec(
            "extension_default_action_on_timeout", AutoAction.APPROVE, "choice",
            "Aksi Default Jika Bestie Tidak Menjawab Extension",
            "What an unanswered extension becomes while the mitra is online and connected.",
            choices=((AutoAction.APPROVE, "Auto-approve"), (AutoAction.REJECT, "Auto-reject")),
        ),
        SettingSpec("free_trial_enabled", True, "bool", "Free Trial Aktif", "First-session free trial on or off."),
        SettingSpec(
            "free_trial_duration_minutes", 15, "int", "Durasi Free Trial",
            "Length of the free trial session.", unit="menit", min_value=1, max_value=120,
        ),
        SettingSpec(
            "early_end_customer_enabled", True, "bool", "Customer Boleh Mengakhiri Sesi Lebih Awal",
            "Whether a customer may end a session before its time.",
        ),
        SettingSpec(
            "early_end_mitra_enabled", False, "bool", "Bestie Boleh Mengakhiri Sesi Lebih Awal",
            "Whether a mitra may end a session before its time.",
        ),
        _seconds(
            "closing_goodbye_seconds", 60, "Durasi Salam Penutup",
            "Length of the closing phase, when each side may send one goodbye message.", min_value=0,
        ),
    )
}


def defaults() -> dict[str, Any]:
    return {key: spec.default for key, spec in SETTINGS.items()}
