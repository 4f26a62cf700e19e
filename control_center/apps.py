from django.apps import AppConfig


class ControlCenterConfig(AppConfig):
    name = "control_center"
    verbose_name = "Control center"
