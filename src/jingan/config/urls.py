from django.urls import include, path

from jingan.config.api import api
from jingan.core.runtime.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("", include("jingan.web.urls")),
]
