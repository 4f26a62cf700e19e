from django.apps import AppConfig


class FailedPairingsConfig(AppConfig):
    name = "failed_pairings"
