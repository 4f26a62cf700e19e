"""``manage.py createmitra``: make a mitra account from the shell.

    manage.py createmitra --display-name "Bestie Ana" --email ana@example.com --password ...

Without ``--password`` it asks twice (interactive terminals only), or reads
``CURHAT_MITRA_PASSWORD``.
"""

import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from accounts.services import mitra_create
from config.errors import AppError


class Command(BaseCommand):
    help = "Create a mitra (listener) account."

    def add_arguments(self, parser):
        parser.add_argument("--display-name", required=True)
        parser.add_argument("--email")
        parser.add_argument("--phone")
        parser.add_argument("--password")

    def handle(self, *args, display_name, email, phone, password, **options):
        password = password or os.environ.get("CURHAT_MITRA_PASSWORD")
        if not password:
            if not os.isatty(0):
                raise CommandError("--password (or CURHAT_MITRA_PASSWORD) is required when not interactive")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ.")
        try:
            user = mitra_create(display_name=display_name, email=email, phone=phone, password=password)
        except AppError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        self.stdout.write(self.style.SUCCESS(f"Created mitra {user.mitra_profile.display_name} ({user.id})"))
