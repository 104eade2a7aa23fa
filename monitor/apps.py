from django.apps import AppConfig


class MonitorConfig(AppConfig):
    """How each network is doing over the last hour and day: samples its nodes' RPC on a
    schedule and draws the figures in the portal (docs/operations.md, "Network activity")."""

    name = "monitor"
    default_auto_field = "django.db.models.BigAutoField"
