from django.apps import AppConfig


class InstitutionsConfig(AppConfig):
    name = "jingan.core.institutions"
    label = "institutions"
    verbose_name = "机构与科室"
