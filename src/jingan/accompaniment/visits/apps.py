from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "jingan.accompaniment.visits"
    label = "visits"
    verbose_name = "门诊就医助手"
