"""The shared surfaces: landing, console frame, resident H5 frame, big screen, platform API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from jingan.core.runtime.models import Heartbeat

STATUS = ("runtime.view_platform_status",)


@pytest.mark.django_db
def test_landing_lists_every_surface_and_the_demo_accounts(
    client: Client, fresh_worker: None
) -> None:
    from click.testing import CliRunner

    from jingan.config.cli import cli

    assert CliRunner().invoke(cli, ["demo-data", "--scale", "tiny"]).exit_code == 0
    html = client.get("/").content.decode()
    for title, url in [
        ("居民服务（公众号 H5）", "/h5/"),
        ("工作人员控制台", "/console/"),
        ("运营监管大屏", "/screen/"),
        ("开放接口（API v1）", "/api/v1/docs"),
        ("健康检查", "/healthz"),
    ]:
        assert title in html
        assert f'href="{url}"' in html
    for role, username in [("系统管理员", "sysadmin"), ("安全审计员", "auditor")]:
        assert role in html
        assert username in html


@pytest.mark.django_db
def test_console_sends_anonymous_visitors_to_the_login_page(client: Client) -> None:
    for url in ["/console/", "/console/status/", "/screen/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/console/login/?next={url}"


@pytest.mark.django_db
def test_console_login_with_password_and_totp_reaches_the_workbench(
    client: Client, make_staff: Callable[..., Any]
) -> None:
    import pyotp
    from django.utils import timezone

    reviewer = make_staff("reviewer")
    reviewer.totp_secret = pyotp.random_base32()
    reviewer.totp_confirmed_at = timezone.now()
    reviewer.save()
    page = client.get("/console/login/")
    assert "工作人员登录" in page.content.decode()
    wrong = client.post("/console/login/", {"username": "reviewer", "password": "wrong"})
    assert wrong.status_code == 200
    assert "用户名或密码错误。" in wrong.content.decode()
    response = client.post(
        "/console/login/?next=/console/",
        {"username": "reviewer", "password": "Test#Password2026", "next": "/console/"},
    )
    assert response["Location"] == "/console/login/verify/"
    done = client.post("/console/login/verify/", {"code": pyotp.TOTP(reviewer.totp_secret).now()})
    assert done["Location"] == "/console/"
    assert "您好" in client.get("/console/").content.decode()


@pytest.mark.django_db
def test_sidebar_shows_only_what_the_user_may_open(
    make_staff: Callable[..., Any], client_for: Callable[[Any], Client], fresh_worker: None
) -> None:
    plain = client_for(make_staff("plain")).get("/console/").content.decode()
    ops = client_for(make_staff("ops", permissions=STATUS)).get("/console/").content.decode()
    assert 'href="/console/status/"' not in plain
    assert 'href="/screen/"' not in plain
    assert 'href="/console/status/"' in ops
    assert 'href="/screen/"' in ops


@pytest.mark.django_db
def test_status_page_and_screen_need_the_status_permission(
    make_staff: Callable[..., Any], client_for: Callable[[Any], Client], fresh_worker: None
) -> None:
    plain = client_for(make_staff("plain"))
    assert plain.get("/console/status/").status_code == 403
    assert plain.get("/screen/").status_code == 403
    ops = client_for(make_staff("ops", permissions=STATUS))
    status = ops.get("/console/status/")
    assert status.status_code == 200
    html = status.content.decode()
    for title in ["数据库", "缓存", "任务队列", "后台任务进程", "数据目录"]:
        assert title in html
    assert ops.get("/screen/").status_code == 200


@pytest.mark.django_db
def test_status_table_refreshes_as_an_htmx_partial(
    make_staff: Callable[..., Any], client_for: Callable[[Any], Client], fresh_worker: None
) -> None:
    ops = client_for(make_staff("ops", permissions=STATUS))
    partial = ops.get("/console/status/", headers={"HX-Request": "true"}).content.decode()
    assert "后台任务进程" in partial
    assert "<html" not in partial


@pytest.mark.django_db
def test_expired_session_sends_an_htmx_refresh_to_the_login_page(client: Client) -> None:
    response = client.get("/console/status/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/console/login/?next=/console/status/"
    assert response.content == b""


@pytest.mark.django_db
def test_platform_status_api_reports_components_and_heartbeats(
    make_staff: Callable[..., Any], client_for: Callable[[Any], Client], fresh_worker: None
) -> None:
    body = client_for(make_staff("ops", permissions=STATUS)).get("/api/v1/platform/status").json()
    assert body["status"] == "ok"
    assert [c["name"] for c in body["components"]] == [
        "database",
        "cache",
        "broker",
        "worker",
        "data_dir",
    ]
    assert [c["title"] for c in body["components"]] == [
        "数据库",
        "缓存",
        "任务队列",
        "后台任务进程",
        "数据目录",
    ]
    assert len(body["heartbeats"]) == 1
    assert body["heartbeats"][0]["component"] == "worker"
    assert body["heartbeats"][0]["beats"] == 1


@pytest.mark.django_db
def test_platform_status_api_refuses_outsiders(
    client: Client,
    make_staff: Callable[..., Any],
    client_for: Callable[[Any], Client],
    fresh_worker: None,
) -> None:
    anonymous = client.get("/api/v1/platform/status")
    assert anonymous.status_code == 401
    plain = client_for(make_staff("plain")).get("/api/v1/platform/status")
    assert plain.status_code == 403
    assert plain.json() == {"detail": "无权查看平台运行状态"}
    assert "heartbeats" not in anonymous.content.decode() + plain.content.decode()
    assert Heartbeat.objects.get().beats == 1


@pytest.mark.django_db
def test_resident_pages_render_for_phones(client: Client) -> None:
    home = client.get("/h5/").content.decode()
    assert 'name="viewport"' in home
    assert "weui-tabbar" in home
    me = client.get("/h5/me/").content.decode()
    assert "尚未登录" in me


@pytest.mark.django_db
def test_unknown_pages_answer_404_in_chinese(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "页面不存在" in response.content.decode()


@pytest.mark.req("SEC-3")
@pytest.mark.django_db
def test_pages_carry_the_security_headers(
    client: Client, make_staff: Callable[..., Any], client_for: Callable[[Any], Client]
) -> None:
    landing = client.get("/")
    assert "frame-ancestors 'none'" in landing["Content-Security-Policy"]
    assert "object-src 'none'" in landing["Content-Security-Policy"]
    assert landing["X-Content-Type-Options"] == "nosniff"
    assert landing["X-Frame-Options"] == "DENY"
    assert "no-store" not in landing.get("Cache-Control", "")
    console = client_for(make_staff("viewer")).get("/console/")
    assert console["Cache-Control"] == "no-store"
