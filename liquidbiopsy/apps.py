from django.apps import AppConfig


class LiquidbiopsyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "liquidbiopsy"
