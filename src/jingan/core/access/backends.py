"""The authentication backend: passwords as Django does them, permissions only from roles.

Django's per-user and group permission tables grant nothing here; superuser status
grants nothing either (``accounts.User.has_perm`` always asks the backends).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from jingan.core.access.grants import grants_for


class RoleBackend(ModelBackend):
    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if obj is not None:
            return set()
        return set(grants_for(user_obj))

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return any(label.startswith(f"{app_label}.") for label in grants_for(user_obj))
