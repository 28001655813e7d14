"""What the web surfaces show, declared as data that every app can extend.

Each installed app may have a ``navigation.py`` with any of:
- ``MENU``: ``MenuItem``s of the staff console sidebar, shown only to users holding
  the item's permission;
- ``SURFACES``: ``Surface``s listed on the landing page;
- ``H5_SERVICES``: ``H5Service`` tiles on the resident home page.

The types live here, below every context, so that core and business apps can declare
entries without importing the web layer that renders them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse


class _Linked:
    """Something the pages link to by URL name, resolved when rendered."""

    url_name: str

    @property
    def url(self) -> str:
        return reverse(self.url_name)


@dataclass(frozen=True)
class MenuItem(_Linked):
    title: str
    url_name: str
    icon: str  # a Tabler icon name, e.g. "home"
    section: str = "平台"
    permission: str | None = None  # "app_label.codename"; None: any signed-in staff member
    order: int = 100


@dataclass(frozen=True)
class Surface(_Linked):
    title: str
    audience: str
    description: str
    url_name: str
    icon: str
    order: int = 100


@dataclass(frozen=True)
class H5Service(_Linked):
    title: str
    description: str
    url_name: str
    icon: str
    order: int = 100
