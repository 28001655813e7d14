from django.urls import path

from jingan.core.audit import views

app_name = "audit"

urlpatterns = [
    path("console/audit/", views.console_log, name="console-log"),
    path("console/audit/export/", views.console_export, name="console-export"),
    path("console/audit/verify/", views.console_verify, name="console-verify"),
    path("console/audit/checkpoint/", views.console_checkpoint, name="console-checkpoint"),
    path("console/audit/<int:sequence>/", views.console_entry, name="console-entry"),
]
