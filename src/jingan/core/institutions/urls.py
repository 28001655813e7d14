from __future__ import annotations

from django.urls import path

from jingan.core.institutions import views

app_name = "institutions"

urlpatterns = [
    path("console/institutions/", views.institution_list, name="list"),
    path("console/institutions/new/", views.institution_create, name="create"),
    path("console/institutions/<int:pk>/", views.institution_detail, name="detail"),
    path("console/institutions/<int:pk>/edit/", views.institution_edit, name="edit"),
    path("console/institutions/<int:pk>/toggle/", views.institution_toggle, name="toggle"),
    path("console/institutions/<int:pk>/delete/", views.institution_delete, name="delete"),
    path(
        "console/institutions/<int:pk>/departments/new/",
        views.department_create,
        name="department-create",
    ),
    path(
        "console/institutions/<int:pk>/departments/<int:department_pk>/edit/",
        views.department_edit,
        name="department-edit",
    ),
    path(
        "console/institutions/<int:pk>/departments/<int:department_pk>/toggle/",
        views.department_toggle,
        name="department-toggle",
    ),
    path(
        "console/institutions/<int:pk>/departments/<int:department_pk>/delete/",
        views.department_delete,
        name="department-delete",
    ),
]
