"""Security headers (issue 10): auth answers are never cached; the control center's
pages carry a CSP; behind a TLS proxy, HSTS and secure cookies, and Django's deploy
check reports nothing with production settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PASSWORD

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path, body", [
    ("/api/auth/token", "login"),
    ("/api/auth/token", "bad"),
    ("/api/auth/register", "new"),
])
def test_auth_answers_are_never_cached(path, body, anon_client, make_customer):
    user = make_customer()
    data = {
        "login": {"login": user.email, "password": PASSWORD},
        "bad": {"login": user.email, "password": "wrong"},
        "new": {"call_name": "Baru", "email": "baru@example.test", "password": "rahasia-sekali-123"},
    }[body]

    response = anon_client.post(path, data, format="json")

    assert response.status_code in (200, 201, 401)
    assert "no-store" in response["Cache-Control"]


def test_refresh_answers_are_never_cached(anon_client, make_customer):
    tokens = anon_client.post("/api/auth/token", {"login": make_customer().email, "password": PASSWORD}, format="json").json()

    response = anon_client.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]


def test_control_center_pages_carry_a_csp_without_inline_scripts(client, make_operator, settings):
    client.force_login(make_operator())

    page = client.get("/admin/")
    login = client.get("/admin/login/")
    api = client.get("/health")

    for response in (page, login):
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
    assert "Content-Security-Policy" not in api
    assert b"<script>" not in page.content  # the mitra table's script is a file now


def test_deploy_check_reports_nothing_with_production_settings():
    env = {
        **os.environ,
        "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "curhat.example.com",
        "BEHIND_TLS_PROXY": "1", "CC_ORIGINS": "https://cc.curhat.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_behind_a_tls_proxy_https_is_enforced_except_for_the_health_probe():
    """Settings as a production process reads them (a fresh interpreter)."""
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup();"
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_REDIRECT_EXEMPT)"
    )
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(64), "BEHIND_TLS_PROXY": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.stdout.split() == ["True", "31536000", "True", "True", "['^health$']"], result.stderr
