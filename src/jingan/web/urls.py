from django.urls import path

from jingan.web import views

app_name = "web"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("console/", views.console_home, name="console-home"),
    path("console/status/", views.console_status, name="console-status"),
    path("h5/", views.h5_home, name="h5-home"),
    path("h5/me/", views.h5_me, name="h5-me"),
    path("screen/", views.screen_home, name="screen-home"),
]
