from django.apps import AppConfig


class ErxCentreConfig(AppConfig):
    name = "jingan.integrations.erx_centre"
    label = "erx_centre"
    verbose_name = "医保电子处方中心接口"
