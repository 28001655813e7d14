from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "jingan.core.crypto"
    label = "crypto"
    verbose_name = "密码服务"

    def ready(self) -> None:
        from jingan.core.crypto import checks  # noqa: F401  (registers the keyring check)
