from django.urls import path

from jingan.core.messaging import views

app_name = "messaging"

urlpatterns = [
    path("console/messages/", views.console_inbox, name="console-inbox"),
    path("console/messages/badge/", views.console_badge, name="console-badge"),
    path("console/messages/read-all/", views.console_read_all, name="console-read-all"),
    path("console/messages/<int:message_id>/", views.console_message, name="console-message"),
    path(
        "console/messages/<int:message_id>/handle/",
        views.console_handle,
        name="console-handle",
    ),
    path("console/messages/outbox/", views.console_outbox, name="console-outbox"),
    path(
        "console/messages/outbox/<int:entry_id>/replay/",
        views.console_outbox_replay,
        name="console-outbox-replay",
    ),
    path("h5/messages/", views.h5_inbox, name="h5-inbox"),
    path("h5/messages/<int:message_id>/", views.h5_message, name="h5-message"),
    path("h5/messages/<int:message_id>/handle/", views.h5_handle, name="h5-handle"),
]
