from django.apps import AppConfig


class ErxConfig(AppConfig):
    name = "jingan.prescriptions.erx"
    label = "erx"
    verbose_name = "医保电子处方"
