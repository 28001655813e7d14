from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "jingan.core.accounts"
    label = "accounts"
    verbose_name = "账号"
