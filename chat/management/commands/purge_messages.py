from django.core.management.base import BaseCommand

from chat.services import messages_purge


class Command(BaseCommand):
    help = "Erase the text of messages older than message_retention_days now (what beat runs daily)."

    def handle(self, *args, **options):
        purged = messages_purge()
        self.stdout.write(f"purge_messages: {purged} message text(s) erased")
