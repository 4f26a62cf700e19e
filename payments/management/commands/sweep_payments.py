from django.core.management.base import BaseCommand

from payments.services import payments_sweep


class Command(BaseCommand):
    help = "Run the payment sweeper once now (beat runs it every 60 s)."

    def handle(self, *args, **options):
        expired = payments_sweep()
        self.stdout.write(f"sweep_payments: {len(expired)} payment session(s) expired")
