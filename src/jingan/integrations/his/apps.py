from django.apps import AppConfig


class HisConfig(AppConfig):
    name = "jingan.integrations.his"
    label = "his"
    verbose_name = "HIS 对接（四种接口方式）"
