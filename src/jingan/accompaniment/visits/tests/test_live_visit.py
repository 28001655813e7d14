"""The visit page updates live (VA-13): the platform's ASGI server pushes the new revision
over the visit's websocket after each fold, to the visit's own resident only; in the
browser the page swaps its fragment in without a reload."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connection
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from jingan.accompaniment.visits.models import Visit
from jingan.accompaniment.visits.tests.test_h5_pages import Journey
from jingan.testing.browser import PHONE, screenshot

OTHER_ID_NUMBER = "310106198503151234"


def socket_url(live_server_url: str, visit: Visit) -> str:
    return live_server_url.replace("http://", "ws://") + f"/ws/visits/{visit.reference}/"


def session_cookie(resident_client: Any, resident: Any) -> str:
    return f"sessionid={resident_client(resident).cookies['sessionid'].value}"


def open_socket(live_server_url: str, visit: Visit, cookie: str = "") -> ClientConnection:
    headers = {"Origin": live_server_url}
    if cookie:
        headers["Cookie"] = cookie
    return connect(socket_url(live_server_url, visit), additional_headers=headers, open_timeout=5)


def closed_with(socket: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=5)
    return closed.value.rcvd.code if closed.value.rcvd else None


def send_from_another_thread(journey: Journey, *events: Any) -> None:
    """Ingest and fold as a sub-centre would, off the test thread: once a browser test has
    run, Playwright's sync API keeps an event loop in this one, where the push after
    commit cannot run."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            journey.send(*events)
        except BaseException as error:  # reported in the test thread
            failures.append(error)
        finally:
            connection.close()

    worker = threading.Thread(target=run, name="sub-centre")
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert failures == []


@pytest.fixture
def patient(transactional_db: None, make_resident: Any) -> Any:
    return make_resident()


@pytest.fixture
def journey(patient: Any) -> Journey:
    return Journey()


@pytest.fixture
def visit(journey: Journey) -> Visit:
    send_from_another_thread(journey, journey.event("registration", "unpaid", 0, fee="25.00"))
    return journey.visit()


@pytest.mark.req("VA-13")
def test_the_resident_socket_hears_each_new_revision(
    live_server_url: str, patient: Any, journey: Journey, visit: Visit, resident_client: Any
) -> None:
    with open_socket(live_server_url, visit, session_cookie(resident_client, patient)) as socket:
        send_from_another_thread(
            journey, journey.event("registration", "registered", 2, fee="25.00")
        )
        assert json.loads(socket.recv(timeout=5)) == {"revision": visit.revision + 1}
        send_from_another_thread(
            journey,
            journey.event("check_in", "pending", 2, location="门诊楼 2 楼"),
            journey.event("check_in", "checked_in", 6, location="门诊楼 2 楼"),
        )
        # One fold of the batch, one push.
        assert json.loads(socket.recv(timeout=5)) == {"revision": visit.revision + 2}
        socket.send(json.dumps({"revision": 999}))  # the page only listens
        with pytest.raises(TimeoutError):
            socket.recv(timeout=0.5)


def test_sockets_of_outsiders_are_closed(
    live_server_url: str,
    journey: Journey,
    visit: Visit,
    make_resident: Any,
    resident_client: Any,
    make_staff: Any,
    client_for: Any,
) -> None:
    with open_socket(live_server_url, visit) as anonymous:
        assert closed_with(anonymous) == 4401
    other = make_resident("李建国", OTHER_ID_NUMBER, nickname="另一位居民")
    with open_socket(live_server_url, visit, session_cookie(resident_client, other)) as stranger:
        assert closed_with(stranger) == 4403
    staff = client_for(make_staff("visitadmin", permissions=("visits.view_visit",)))
    staff_cookie = f"sessionid={staff.cookies['sessionid'].value}"
    with open_socket(live_server_url, visit, staff_cookie) as staff_socket:
        assert closed_with(staff_socket) == 4401
    # A page of another site cannot open the socket with the resident's cookie.
    with pytest.raises(InvalidStatus) as refused:
        connect(
            socket_url(live_server_url, visit),
            additional_headers={"Origin": "http://evil.example", "Cookie": "sessionid=x"},
            open_timeout=5,
        )
    assert refused.value.response.status_code == 403


@pytest.fixture
def phone_page(
    open_page: Any, live_server_url: str, patient: Any, resident_client: Any
) -> tuple[Any, Any]:
    page, problems = open_page(**PHONE)
    key = resident_client(patient).cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": key, "url": live_server_url}])
    return page, problems


@pytest.mark.browser
@pytest.mark.req("VA-13")
def test_the_visit_page_advances_live_without_a_reload(
    phone_page: tuple[Any, Any], live_server_url: str, journey: Journey, visit: Visit
) -> None:
    page, problems = phone_page
    page.goto(f"{live_server_url}/h5/visits/")
    page.locator(f'[data-visit="{visit.reference}"]').click()
    page.wait_for_url(f"{live_server_url}/h5/visits/{visit.reference}/")
    page.wait_for_selector('html[data-visit-live="socket"]')
    assert page.locator('[data-field="current-status"]').inner_text() == "待支付挂号费"
    page.evaluate("window.__noReload = 'still here'")
    screenshot(page, "visits-h5-visit-before")

    send_from_another_thread(
        journey,
        journey.event("registration", "registered", 2, fee="25.00"),
        journey.event("check_in", "pending", 2, location="门诊楼 2 楼 内科诊区 A 区"),
    )
    page.wait_for_selector('[data-field="current-status"]:has-text("待签到")')
    assert page.locator('[data-node="registration"] [data-status]').inner_text() == "已挂号"
    assert page.locator(".va-todo__title").all_inner_texts() == [
        "请到门诊楼 2 楼 内科诊区 A 区签到"
    ]

    send_from_another_thread(
        journey,
        journey.event("check_in", "checked_in", 6, location="门诊楼 2 楼 内科诊区 A 区"),
        journey.event("waiting", "waiting", 6, ahead=4, queue_no="03-027", room="内科第 2 诊室"),
    )
    page.wait_for_selector('[data-node="waiting"][data-phase="current"]')
    assert page.locator('[data-node="waiting"] [data-status]').inner_text() == "候诊中"
    assert page.locator('[data-field="no-todos"]').inner_text() == "暂无待办事项"
    # The same document all along: the marker survives, and it was never reloaded.
    assert page.evaluate("window.__noReload") == "still here"
    assert page.evaluate("performance.getEntriesByType('navigation')[0].type") == "navigate"
    screenshot(page, "visits-h5-visit-live", full_page=True)

    # The to-do-free queue node: tap the step, the waiting page shows the estimate.
    page.locator('[data-node="waiting"] a').click()
    page.wait_for_url(f"{live_server_url}/h5/visits/{visit.reference}/nodes/waiting/")
    assert page.locator('[data-field="ahead"]').inner_text() == "4"
    assert page.locator('[data-field="estimated-minutes"]').inner_text() == "24"
    page.wait_for_selector('html[data-visit-live="socket"]')
    send_from_another_thread(
        journey,
        journey.event("waiting", "called", 25, ahead=0, queue_no="03-027", room="内科第 2 诊室"),
    )
    page.wait_for_selector('[data-field="called"]')
    assert (
        page.locator('[data-field="called"] .va-where__place').inner_text() == "请到 内科第 2 诊室"
    )
    screenshot(page, "visits-h5-waiting-called", full_page=True)
    assert problems.errors == []


@pytest.mark.browser
@pytest.mark.req("VA-13")
def test_the_page_polls_when_the_socket_is_down(
    phone_page: tuple[Any, Any], live_server_url: str, journey: Journey, visit: Visit
) -> None:
    page, problems = phone_page
    # A network that blocks websockets (some hospital Wi-Fi does): the page falls back.
    page.route("**/ws/visits/**", lambda route: route.abort())
    page.add_init_script("window.WebSocket = undefined;")
    page.clock.install()
    page.goto(f"{live_server_url}/h5/visits/{visit.reference}/")
    page.wait_for_selector('html[data-visit-live="polling"]')
    page.evaluate("window.__noReload = 1")
    send_from_another_thread(journey, journey.event("registration", "registered", 2, fee="25.00"))
    page.clock.run_for(15_000)
    page.wait_for_selector('[data-field="current-status"]:has-text("已挂号")')
    assert page.evaluate("window.__noReload") == 1
    assert problems.errors == []
