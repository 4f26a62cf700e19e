from django.core.management.base import BaseCommand

from pairing.deadlines import due_deadlines_fire


class Command(BaseCommand):
    help = "Fire every pairing deadline already past (what the beat backstop does every 2 s)."

    def handle(self, *args, **options):
        fired = due_deadlines_fire()
        self.stdout.write(f"fire_due_timers: {fired} deadline(s) fired")
