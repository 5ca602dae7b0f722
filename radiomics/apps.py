from django.apps import AppConfig


class RadiomicsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "radiomics"

    def ready(self) -> None:
        # Connects the receivers that keep signature scores up to date:
        from radiomics import signatures  # noqa: F401
