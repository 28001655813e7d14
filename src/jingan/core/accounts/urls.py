from django.urls import path

from jingan.core.accounts import views

app_name = "accounts"

urlpatterns = [
    path("console/login/", views.login_view, name="login"),
    path("console/login/verify/", views.totp_view, name="totp"),
    path("console/login/enrol/", views.totp_enrol_view, name="totp-enrol"),
    path("console/logout/", views.logout_view, name="logout"),
    path("console/password/", views.password_change_view, name="password-change"),
]
