from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "jingan.core.runtime"
    label = "runtime"
    verbose_name = "运行状态"
