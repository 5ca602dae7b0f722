from django.apps import AppConfig


class RadiomicsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'radiomics'
