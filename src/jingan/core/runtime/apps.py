from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "jingan.core.runtime"
    label = "runtime"
    verbose_name = "运行状态"

    def ready(self) -> None:
        from jingan.core.runtime import checks  # noqa: F401  (registers the database checks)
