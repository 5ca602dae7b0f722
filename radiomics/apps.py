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
