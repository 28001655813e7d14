from django.urls import path

from jingan.core.residents import views

app_name = "residents"

urlpatterns = [
    path("h5/login/", views.login, name="login"),
    path("h5/login/callback/", views.login_callback, name="login-callback"),
    path("h5/logout/", views.logout, name="logout"),
    path("h5/verify/", views.verify, name="verify"),
    path("h5/me/profile/", views.profile, name="profile"),
]
