from django.apps import AppConfig


class ArchivesConfig(AppConfig):
    name = "jingan.integrations.archives"
    label = "archives"
    verbose_name = "病案归档系统接口"
