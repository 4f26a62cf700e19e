"""SPEC §11: with DEBUG off the app refuses to start on the instant provider (which
marks every payment paid when the app says so) unless ALLOW_INSTANT_PAYMENTS=1, and
refuses Midtrans without its server key. Each case in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(**env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "ALLOW_INSTANT_PAYMENTS", "PAYMENT_PROVIDER", "MIDTRANS_SERVER_KEY")}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.PAYMENT_PROVIDER)"],
        cwd=ROOT, env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env}, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("env, starts, says", [
    ({}, False, "ALLOW_INSTANT_PAYMENTS=1"),
    ({"PAYMENT_PROVIDER": "instant"}, False, "ALLOW_INSTANT_PAYMENTS=1"),
    ({"ALLOW_INSTANT_PAYMENTS": "1"}, True, "payments.providers.InstantProvider"),
    ({"DEBUG": "1"}, True, "payments.providers.InstantProvider"),
    ({"PAYMENT_PROVIDER": "midtrans"}, False, "MIDTRANS_SERVER_KEY"),
    ({"PAYMENT_PROVIDER": "midtrans", "MIDTRANS_SERVER_KEY": "SB-Mid-server-x"}, True, "payments.providers.MidtransProvider"),
])
def test_the_app_starts_only_with_real_payments_or_an_explicit_allowance(env, starts, says):
    result = _start(**env)

    assert (result.returncode == 0) == starts, result.stderr[-2000:]
    assert says in (result.stdout if starts else result.stderr)
