"""How the control center shows values to operators: amounts as ``Rp 50.000`` and
cause tags as Indonesian labels (SPEC §8: "in Indonesian where the labels are
Indonesian"). One place, used by every page (through ``control_center_display``'s
template filters) and by the dashboard's chart."""

from __future__ import annotations

from django.utils.html import format_html

from failed_pairings.models import CauseTag

CAUSE_LABELS: dict[str, str] = {
    CauseTag.NO_MITRA_AVAILABLE: "Tidak ada bestie tersedia",
    CauseTag.ALL_MITRAS_REJECTED: "Semua bestie menolak",
    CauseTag.CUSTOMER_CANCELLED: "Customer membatalkan",
    CauseTag.TARGETED_MITRA_OFFLINE: "Bestie pilihan sedang offline",
    CauseTag.TARGETED_MITRA_AT_CAPACITY: "Bestie pilihan sedang penuh",
    CauseTag.TARGETED_MITRA_REJECTED: "Bestie pilihan menolak",
    CauseTag.TARGETED_MITRA_TIMEOUT: "Bestie pilihan tidak menjawab",
    CauseTag.PAYMENT_EXPIRED_UNUSED: "Pembayaran kedaluwarsa tanpa dipakai",
    CauseTag.PAYMENT_SETTLED_AFTER_EXPIRY: "Pembayaran lunas setelah kedaluwarsa",
    CauseTag.EXTENSION_UNUSED: "Perpanjangan tak terpakai, refund ditolak",
    CauseTag.ACCOUNT_SUSPENDED: "Customer ditangguhkan saat mencari",
    CauseTag.CUSTOMER_BLOCKED_MITRA: "Customer memblokir bestie pilihan",
}
"""Every ``CauseTag`` (a test keeps this complete); the code itself is shown on hover."""


def rupiah(amount) -> str:
    """``50000`` → ``"Rp 50.000"`` (Indonesian thousands separator); no amount → ``"—"``."""
    if amount is None or amount == "":
        return "—"
    value = int(amount)
    sign = "-" if value < 0 else ""
    return f"{sign}Rp {abs(value):,}".replace(",", ".")


def cause_label(code: str) -> str:
    """The Indonesian label of a cause tag; an unknown code is shown as it is."""
    return CAUSE_LABELS.get(code, code)


def cause_html(code: str) -> str:
    """``<span title="no_mitra_available">Tidak ada bestie tersedia</span>``."""
    return format_html('<span class="cc-cause" title="{}">{}</span>', code, cause_label(code))
