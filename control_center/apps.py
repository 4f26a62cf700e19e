from django.apps import AppConfig


class ControlCenterConfig(AppConfig):
    name = "control_center"
    verbose_name = "Control center"

    def ready(self) -> None:
        # the model admins (Sesi, Users) register on control_center_site when imported
        from control_center import model_admins  # noqa: F401
