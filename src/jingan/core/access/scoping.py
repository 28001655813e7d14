"""Institution-scoped querysets that fail closed.

A model whose default manager is ``ScopedManager`` declares ``scope_field``: the path
to the institution id (``"institution"`` for a row belonging to one institution,
``"pk"`` for ``Institution`` itself). Its querysets refuse to run until the caller says
whose view they are: ``.restrict(user, "app.codename")`` keeps the rows of the
institutions where the user holds that permission (all of them for a district-wide
grant, none without it), ``.unscoped()`` spells out a deliberate bypass (services,
workers, migrations). Reverse relations of an object already fetched (``institution.
departments.all()``) are scoped by their parent and run as they are.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models
from django.http import Http404

from jingan.core.access.grants import institution_ids_for

_Model = TypeVar("_Model", bound=models.Model)


class UnscopedQueryError(RuntimeError):
    """A scoped queryset was evaluated without ``.restrict()`` or ``.unscoped()``."""


class ScopedQuerySet(models.QuerySet[_Model]):
    _scope_applied = False

    def _clone(self) -> ScopedQuerySet[_Model]:
        clone: ScopedQuerySet[_Model] = super()._clone()  # type: ignore[misc]
        clone._scope_applied = self._scope_applied
        return clone

    def restrict(self, user: Any, permission: str) -> ScopedQuerySet[_Model]:
        """The rows of the institutions where ``user`` holds ``permission``."""
        queryset = self._clone()
        queryset._scope_applied = True
        institution_ids = institution_ids_for(user, permission)
        if institution_ids is None:
            return queryset
        if not institution_ids:
            return queryset.none()
        field = getattr(self.model, "scope_field", None)
        if not field:
            raise UnscopedQueryError(f"{self.model.__name__} declares no scope_field")
        lookup = "pk__in" if field == "pk" else f"{field}__in"
        return queryset.filter(**{lookup: sorted(institution_ids)})

    def unscoped(self) -> ScopedQuerySet[_Model]:
        """Every row, on purpose: for services, workers and system jobs, never for a page."""
        queryset = self._clone()
        queryset._scope_applied = True
        return queryset

    def _check_scope(self) -> None:
        hints: dict[str, Any] = getattr(self, "_hints", {})
        if self._scope_applied or hints.get("instance") is not None:
            return
        raise UnscopedQueryError(
            f"{self.model.__name__} is institution-scoped: call .restrict(user, permission) "
            "or, deliberately, .unscoped() before reading it"
        )

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._check_scope()
        super()._fetch_all()

    def count(self) -> int:
        if self._result_cache is None:
            self._check_scope()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._check_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._check_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._check_scope()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._check_scope()
        return super().delete()

    def iterator(self, chunk_size: int | None = None) -> Any:
        self._check_scope()
        return super().iterator(chunk_size=chunk_size)


class ScopedManager(models.Manager[_Model]):
    """Default manager of institution-scoped models (see the module docstring)."""

    def get_queryset(self) -> ScopedQuerySet[_Model]:
        return ScopedQuerySet(self.model, using=self._db, hints=getattr(self, "_hints", {}))

    def restrict(self, user: Any, permission: str) -> ScopedQuerySet[_Model]:
        return self.get_queryset().restrict(user, permission)

    def unscoped(self) -> ScopedQuerySet[_Model]:
        return self.get_queryset().unscoped()


def get_for_user(queryset: Any, user: Any, permission: str, **lookup: Any) -> Any:
    """One object of ``queryset`` within ``user``'s scope for ``permission``, else 404."""
    model = queryset.model
    try:
        return queryset.restrict(user, permission).get(**lookup)
    except (model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"{model._meta.verbose_name} 不存在或不在您的数据范围内") from None
