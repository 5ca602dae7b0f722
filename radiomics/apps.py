from django.apps import AppConfig


class RadiomicsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "radiomics"

    def ready(self) -> None:
        # Connects the receivers that keep signature scores up to date, and the one
        # that removes the files of deleted images and segmentations:
        from biobank.core.scoped_admin import STORED_FILE_COUNTS
        from radiomics import signatures, stored_files  # noqa: F401

        if stored_files.files_of not in STORED_FILE_COUNTS:
            STORED_FILE_COUNTS.append(stored_files.files_of)

        from patients.validation import DATED_RECORDS, DatedRecords
        from radiomics.models import ImageSeries, ImagingStudy

        for dated in (
            DatedRecords(
                ImagingStudy, "patient_id", "study_date", "imaging study", "study_date"
            ),
            DatedRecords(
                ImageSeries,
                "study__patient_id",
                "series_date",
                "image series",
                "series_date",
            ),
        ):
            if dated not in DATED_RECORDS:
                DATED_RECORDS.append(dated)
