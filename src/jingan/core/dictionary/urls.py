from __future__ import annotations

from django.urls import path

from jingan.core.dictionary import views

app_name = "dictionary"

urlpatterns = [
    path("console/dictionary/", views.category_list, name="list"),
    path("console/dictionary/new/", views.category_create, name="category-create"),
    path("console/dictionary/<slug:code>/", views.category_detail, name="category"),
    path("console/dictionary/<slug:code>/edit/", views.category_edit, name="category-edit"),
    path("console/dictionary/<slug:code>/delete/", views.category_delete, name="category-delete"),
    path("console/dictionary/<slug:code>/entries/new/", views.entry_create, name="entry-create"),
    path(
        "console/dictionary/<slug:code>/entries/<int:pk>/edit/", views.entry_edit, name="entry-edit"
    ),
    path(
        "console/dictionary/<slug:code>/entries/<int:pk>/toggle/",
        views.entry_toggle,
        name="entry-toggle",
    ),
    path(
        "console/dictionary/<slug:code>/entries/<int:pk>/delete/",
        views.entry_delete,
        name="entry-delete",
    ),
    path("console/institution-settings/", views.settings_list, name="settings"),
    path(
        "console/institution-settings/<int:pk>/",
        views.settings_edit,
        name="institution-settings",
    ),
]
