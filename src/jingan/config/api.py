"""The versioned JSON API: one NinjaAPI under /api/v1 gathering every context's routers.

A context exposes ``ROUTERS = [(prefix, router), ...]`` in its ``api.py``, and may add
``EXCEPTION_HANDLERS = [(exception_class, handler), ...]`` for errors its auth or
endpoints raise (``handler(request, exc) -> HttpResponse``).
"""

from __future__ import annotations

from ninja import NinjaAPI

from jingan import __version__
from jingan.lib.discovery import declared

DESCRIPTION = """健康静安“便捷就医 3.0”平台开放接口。

- 居民端 H5、工作人员控制台与监管大屏使用会话认证（Cookie + CSRF）；
- 机构系统（HIS、病案系统）与医生工作站使用国密 SM2 签名的请求，详见各接口说明。
"""


def build_api() -> NinjaAPI:
    api = NinjaAPI(
        title="静安便捷就医平台 API",
        version=f"1 ({__version__})",
        description=DESCRIPTION,
        urls_namespace="api-v1",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    for _, (prefix, router) in declared("api", "ROUTERS"):
        api.add_router(prefix, router)
    for _, (exception_class, handler) in declared("api", "EXCEPTION_HANDLERS"):
        api.add_exception_handler(exception_class, handler)
    return api


api = build_api()
