from django.core.management.base import BaseCommand

from payments.services import gateway_payments_reconcile, payments_sweep


class Command(BaseCommand):
    help = "Run the payment sweeper once now (beat runs it every 60 s), gateway reconciliation included."

    def handle(self, *args, **options):
        expired = payments_sweep()
        reconciled = gateway_payments_reconcile()
        self.stdout.write(
            f"sweep_payments: {len(expired)} payment session(s) expired; gateway payments past their time: "
            f"{reconciled['confirmed']} confirmed (paid), {reconciled['expired']} expired, "
            f"{reconciled['unknown']} left for the next pass"
        )
