from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _sync_builtin_roles(sender: AppConfig, **kwargs: Any) -> None:
    # post_migrate is sent once per app that has models; the last such app's turn comes
    # after every app's permissions exist, so the built-in roles are synced exactly once.
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if sender is not with_models[-1]:
        return
    from jingan.core.access.services import sync_builtin_roles

    sync_builtin_roles()


class AccessConfig(AppConfig):
    name = "jingan.core.access"
    label = "access"
    verbose_name = "权限"

    def ready(self) -> None:
        post_migrate.connect(_sync_builtin_roles, dispatch_uid="jingan.access.builtin_roles")
