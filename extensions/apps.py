from django.apps import AppConfig


class ExtensionsConfig(AppConfig):
    name = "extensions"

    def ready(self) -> None:
        from extensions.services import due_extensions_fire, extension_pending_exists
        from pairing.timers import register_backstop, register_end_hold

        register_backstop(due_extensions_fire)
        register_end_hold(extension_pending_exists)
