from django.apps import AppConfig


class ResidentsConfig(AppConfig):
    name = "jingan.core.residents"
    label = "residents"
    verbose_name = "居民"
