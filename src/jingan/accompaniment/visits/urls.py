"""Pages of the visit assistant: the resident's H5 under h5/visits/, the console under
console/visits/ (full paths, auto-discovered by the root URLconf)."""

from __future__ import annotations

from jingan.accompaniment.visits import console_urls, h5_urls

app_name = "visits"

urlpatterns = [*h5_urls.urlpatterns, *console_urls.urlpatterns]
