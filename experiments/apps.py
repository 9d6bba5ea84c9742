from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    """Price experiments, assignment, events and statistics (models arrive with issue 3)."""

    name = "experiments"
