"""Every runtime setting of SPEC §2: default, type, range, label. The one source of truth
for validation, the API, the control-center form and the cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from safety.phrases import normalise


class AutoAction:
    APPROVE = "auto_approve"
    REJECT = "auto_reject"


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: Any
    kind: str  # "int" | "bool" | "choice" | "text" | "phrases" | "resources"
    label: str
    help_text: str
    unit: str = ""
    min_value: int | None = None
    max_value: int | None = None
    choices: tuple[tuple[str, str], ...] = ()

    def validate(self, value: Any) -> Any:
        """Return ``value`` if it is valid for this key; raise ValueError with a readable message.
        Text and lists are stored as given: surrounding spaces are refused, not trimmed."""
        if self.kind == "text":
            return _text(value, max_length=self.max_value, required=True)
        if self.kind == "phrases":
            return _phrases(value, max_items=self.max_value)
        if self.kind == "resources":
            return _resources(value, max_items=self.max_value)
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

    def parse_form(self, data) -> Any:
        """This key's typed value from a submitted HTML form (a ``QueryDict``; then
        ``validate`` it). A list is one input per item under the key's name (phrases) or
        one per field, ``<key>-name`` etc. (resources); rows left wholly empty are dropped,
        and every value is trimmed."""
        if self.kind == "phrases":
            return [item.strip() for item in data.getlist(self.key) if item.strip()]
        if self.kind == "resources":
            columns = [data.getlist(f"{self.key}-{field}") for field in RESOURCE_FIELDS]
            rows = [
                {field: (column[i] if i < len(column) else "").strip() for field, column in zip(RESOURCE_FIELDS, columns)}
                for i in range(max(map(len, columns)))
            ]
            return [row for row in rows if any(row.values())]
        if self.kind == "text":
            return (data.get(self.key) or "").strip().replace("\r\n", "\n")
        return self.parse_form_value(data.get(self.key))

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


RESOURCE_FIELDS = ("name", "contact", "url", "hours")
"""A crisis resource (SPEC §12): who, how to reach them, a web address, when they answer."""
_RESOURCE_FIELD_MAX = {"name": 100, "contact": 100, "url": 300, "hours": 100}


def _text(value: Any, *, max_length: int, required: bool, what: str = "") -> str:
    prefix = f"{what}: " if what else ""
    if not isinstance(value, str):
        raise ValueError(f"{prefix}Must be text.")
    if value != value.strip():
        raise ValueError(f"{prefix}Must not start or end with spaces.")
    if required and not value:
        raise ValueError(f"{prefix}Must not be empty.")
    if len(value) > max_length:
        raise ValueError(f"{prefix}At most {max_length} characters.")
    if "\x00" in value:
        raise ValueError(f"{prefix}Must not contain NUL characters.")
    return value


def _phrases(value: Any, *, max_items: int) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError("Must be a list of at least one phrase.")
    if len(value) > max_items:
        raise ValueError(f"At most {max_items} phrases.")
    seen: dict[str, str] = {}
    for index, phrase in enumerate(value, start=1):
        _text(phrase, max_length=100, required=True, what=f"Phrase {index}")
        key = normalise(phrase)  # the matcher's own normal form decides what is a duplicate
        if len(key.replace(" ", "")) < 3:  # "i" or "a" would match nearly every message
            raise ValueError(f"Phrase {index}: Must contain at least 3 letters or digits.")
        if key in seen:
            raise ValueError(f"Phrase {index}: \"{phrase}\" matches the same messages as \"{seen[key]}\".")
        seen[key] = phrase
    return value


def _resources(value: Any, *, max_items: int) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise ValueError("Must be a list of at least one resource.")
    if len(value) > max_items:
        raise ValueError(f"At most {max_items} resources.")
    for index, resource in enumerate(value, start=1):
        what = f"Resource {index}"
        if not isinstance(resource, dict) or set(resource) != set(RESOURCE_FIELDS):
            raise ValueError(f"{what}: Must have exactly the fields {', '.join(RESOURCE_FIELDS)}.")
        for field in RESOURCE_FIELDS:
            _text(resource[field], max_length=_RESOURCE_FIELD_MAX[field], required=field == "name", what=f"{what} {field}")
        if not resource["contact"] and not resource["url"]:
            raise ValueError(f"{what}: Give a contact (phone number) or a url.")
        if resource["url"]:
            parts = urlsplit(resource["url"])
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{what} url: Must be an http(s) address, e.g. https://healing119.id.")
    return value


DEFAULT_CRISIS_PHRASES = [
    # Indonesian (with the everyday spellings people type)
    "bunuh diri", "ingin mati", "pengen mati", "mau mati", "lebih baik mati", "ingin mengakhiri hidup",
    "mengakhiri hidup", "akhiri hidup", "tidak ingin hidup lagi", "gak mau hidup lagi", "menyakiti diri",
    "melukai diri", "nyakitin diri", "gantung diri", "sayat tangan", "minum racun",
    # English
    "suicide", "suicidal", "kill myself", "end my life", "want to die", "self harm", "hurt myself", "cut myself",
]
DEFAULT_CRISIS_RESOURCES = [
    {"name": "Layanan kesehatan jiwa (Kemenkes)", "contact": "119 ext 8", "url": "", "hours": "24 jam"},
    {"name": "Healing119", "contact": "", "url": "https://healing119.id", "hours": "24 jam"},
    {"name": "Darurat", "contact": "112", "url": "", "hours": "24 jam"},
]
DEFAULT_SAFETY_PROTOCOL_TEXT = (
    "Customer ini mungkin sedang dalam krisis. Tetap tenang, dengarkan tanpa menghakimi, dan jangan "
    "mengakhiri percakapan secara tiba-tiba. Tanyakan langsung apakah ia aman saat ini. Ajak ia menghubungi "
    "layanan kesehatan jiwa 119 ext 8 atau Darurat 112 jika ia dalam bahaya. Tim operator sudah diberi tahu "
    "dan akan menindaklanjuti; jangan meminta data pribadinya."
)


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
        # SPEC §12: safety and trust
        SettingSpec(
            "crisis_phrases", DEFAULT_CRISIS_PHRASES, "phrases", "Frasa Krisis",
            "Customer messages containing one of these (ignoring case, repeated letters and spaces, and "
            "number-for-letter swaps such as d1ri) raise a safety alert.", max_value=500,
        ),
        SettingSpec(
            "crisis_resources", DEFAULT_CRISIS_RESOURCES, "resources", "Layanan Bantuan Krisis",
            "Sent to the customer when a crisis phrase matches. Verify every number and address.", max_value=20,
        ),
        SettingSpec(
            "safety_protocol_text", DEFAULT_SAFETY_PROTOCOL_TEXT, "text", "Panduan Bestie Saat Krisis",
            "The guidance sent to the mitra of a session when a crisis phrase matches.", max_value=2000,
        ),
        SettingSpec(
            "rating_window_days", 7, "int", "Batas Waktu Memberi Rating",
            "How long after a session ends its customer may rate it.", unit="hari", min_value=1, max_value=90,
        ),
        # SPEC §13: privacy
        SettingSpec(
            "message_retention_days", 90, "int", "Masa Simpan Pesan",
            "Message texts older than this are erased by the daily purge (the messages stay, without text).",
            unit="hari", min_value=1, max_value=3650,
        ),
    )
}


def defaults() -> dict[str, Any]:
    return {key: spec.default for key, spec in SETTINGS.items()}
