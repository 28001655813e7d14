from __future__ import annotations

from django.urls import path

from jingan.core.access import views

app_name = "access"

urlpatterns = [
    path("console/access/users/", views.staff_list, name="staff-list"),
    path("console/access/users/new/", views.staff_create, name="staff-create"),
    path("console/access/users/<int:pk>/", views.staff_detail, name="staff-detail"),
    path("console/access/users/<int:pk>/edit/", views.staff_edit, name="staff-edit"),
    path("console/access/users/<int:pk>/toggle/", views.staff_toggle, name="staff-toggle"),
    path(
        "console/access/users/<int:pk>/password/",
        views.staff_password_reset,
        name="staff-password",
    ),
    path("console/access/users/<int:pk>/unlock/", views.staff_unlock, name="staff-unlock"),
    path("console/access/users/<int:pk>/roles/", views.staff_grant, name="staff-grant"),
    path(
        "console/access/users/<int:pk>/roles/<int:assignment_pk>/revoke/",
        views.staff_revoke,
        name="staff-revoke",
    ),
    path("console/access/roles/", views.role_list, name="role-list"),
    path("console/access/roles/new/", views.role_create, name="role-create"),
    path("console/access/roles/<slug:code>/", views.role_detail, name="role-detail"),
    path("console/access/roles/<slug:code>/edit/", views.role_edit, name="role-edit"),
    path("console/access/roles/<slug:code>/delete/", views.role_delete, name="role-delete"),
]
