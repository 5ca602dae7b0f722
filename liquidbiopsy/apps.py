from django.apps import AppConfig


class LiquidbiopsyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "liquidbiopsy"

    def ready(self) -> None:
        from liquidbiopsy.validation import earliest_draw_before
        from patients.validation import RECORDS_AFTER_BIRTH

        if earliest_draw_before not in RECORDS_AFTER_BIRTH:
            RECORDS_AFTER_BIRTH.append(earliest_draw_before)
