from django.apps import AppConfig


class LiquidbiopsyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "liquidbiopsy"

    def ready(self) -> None:
        from liquidbiopsy.models import BloodSample
        from patients.validation import DATED_RECORDS, DatedRecords

        # A draw by its local day (drawn_on), as the draw rule reads drawn_at:
        draws = DatedRecords(
            BloodSample, "patient_id", "drawn_on", "blood draw", "drawn_at"
        )
        if draws not in DATED_RECORDS:
            DATED_RECORDS.append(draws)
