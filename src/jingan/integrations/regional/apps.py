from django.apps import AppConfig


class RegionalConfig(AppConfig):
    name = "jingan.integrations.regional"
    label = "regional"
    verbose_name = "区域卫生平台"
