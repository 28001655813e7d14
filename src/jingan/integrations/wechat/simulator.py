"""A local stand-in for the WeChat Official Account platform (微信公众平台), over real HTTP.

It answers the endpoints wechatpy calls with the real wire format and error codes:

- ``GET /connect/oauth2/authorize`` — the authorisation page: the demo user picks which
  simulated WeChat user they are (or creates a new one) and confirms; the browser is sent
  to ``redirect_uri?code=...&state=...``. Codes are single-use and expire after 5 minutes.
- ``GET /sns/oauth2/access_token``, ``GET /sns/userinfo``, ``GET /sns/auth``.
- ``GET /cgi-bin/token`` (access tokens live 7200 s; a bad or expired one later answers
  40001 / 42001).
- ``POST /cgi-bin/message/template/send`` and ``POST /cgi-bin/message/subscribe/bizsend``.
- ``GET /simulator/messages`` (HTML, or ``?format=json``; ``?openid=`` filters): every
  message received, newest first, drawn as a phone shows it.
- ``POST /simulator/faults`` with ``{"count": N, "errcode": -1, "errmsg": "system error"}``:
  the next N message sends fail with that error (``count: 0`` clears);
  ``{"expire_tokens": true}`` expires every access token issued so far.

State is kept in memory behind one lock. The server runs in a background thread
(``start()``/``stop()``) or in the foreground (``serve_forever``).
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from jingan.integrations.wechat import port
from jingan.lib.simulator import QuietHandler, SimulatorServer

CODE_TTL_SECONDS = 300
TOKEN_TTL_SECONDS = 7200
SCOPES = ("snsapi_base", "snsapi_userinfo")


@dataclass
class SimulatedUser:
    """A WeChat user who follows the official account."""

    openid: str
    nickname: str
    unionid: str | None = None


@dataclass
class ReceivedMessage:
    """A template or subscribe message as the user's phone received it."""

    msgid: int
    kind: str  # "template" or "subscribe"
    openid: str
    template_id: str
    data: dict[str, str]
    link: str
    received_at: float


@dataclass
class _Grant:
    openid: str
    scope: str
    issued_at: float
    used: bool = False


@dataclass
class _Faults:
    count: int = 0
    errcode: int = port.SYSTEM_BUSY
    errmsg: str = "system error"


@dataclass
class _State:
    users: dict[str, SimulatedUser] = field(default_factory=dict)
    codes: dict[str, _Grant] = field(default_factory=dict)
    oauth_tokens: dict[str, _Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, _Grant] = field(default_factory=dict)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at
    messages: list[ReceivedMessage] = field(default_factory=list)
    faults: _Faults = field(default_factory=_Faults)
    next_msgid: int = 2_901_000_000_000_000_000


def demo_users() -> list[SimulatedUser]:
    """The simulated followers that match the platform's demo residents."""
    text = resources.files(__package__).joinpath("data/demo_users.json").read_text("utf-8")
    return [SimulatedUser(**row) for row in json.loads(text)]


def new_openid() -> str:
    # Real openids are 28 characters of URL-safe base64 starting with "o".
    return "o" + secrets.token_urlsafe(21)[:27]


class _Reply(Exception):
    """Raised inside a handler to answer immediately."""

    def __init__(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


def _json(payload: dict[str, Any], status: int = 200) -> _Reply:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    # The real platform answers JSON as text/plain; wechatpy does not care.
    return _Reply(status, body, "application/json; charset=utf-8", {})


def _error(errcode: int, errmsg: str) -> _Reply:
    rid = secrets.token_hex(4)
    return _json({"errcode": errcode, "errmsg": f"{errmsg} rid: {rid}"})


def _html(page: str, status: int = 200) -> _Reply:
    return _Reply(status, page.encode("utf-8"), "text/html; charset=utf-8", {})


def _redirect(location: str) -> _Reply:
    return _Reply(302, b"", "text/plain", {"Location": location})


class _Handler(QuietHandler):
    simulator: WeChatSimulator
    server_version = "WeChatSimulator/1.0"

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        body = self.read_body()
        try:
            reply = self.simulator.handle(method, parts.path, query, body)
        except _Reply as raised:
            reply = raised
        headers = {"Cache-Control": "no-store", **reply.headers}
        self.send_body(reply.status, reply.body, reply.content_type, headers)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")


class WeChatSimulator(SimulatorServer):
    """The simulated platform: configured app, in-memory state, an HTTP server on demand."""

    handler = _Handler
    thread_name = "wechat-simulator"

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        users: Iterable[SimulatedUser] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.clock = clock
        self._lock = threading.Lock()
        self._state = _State(users={user.openid: user for user in users})

    # -- what tests and demos drive directly -------------------------------------

    def add_user(
        self, nickname: str, openid: str | None = None, unionid: str | None = None
    ) -> SimulatedUser:
        user = SimulatedUser(openid=openid or new_openid(), nickname=nickname, unionid=unionid)
        with self._lock:
            self._state.users[user.openid] = user
        return user

    def users(self) -> list[SimulatedUser]:
        with self._lock:
            return list(self._state.users.values())

    def messages(self, openid: str | None = None) -> list[ReceivedMessage]:
        """Messages received, newest first."""
        with self._lock:
            found = [m for m in self._state.messages if openid is None or m.openid == openid]
        return sorted(found, key=lambda m: m.msgid, reverse=True)

    def inject_faults(
        self, count: int, errcode: int = port.SYSTEM_BUSY, errmsg: str = "system error"
    ) -> None:
        with self._lock:
            self._state.faults = _Faults(count=max(count, 0), errcode=errcode, errmsg=errmsg)

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self._state.access_tokens:
                self._state.access_tokens[token] = 0.0
            for grant in self._state.oauth_tokens.values():
                grant.issued_at = 0.0

    def issue_code(self, openid: str, scope: str = "snsapi_userinfo") -> str:
        """What confirming on the authorisation page does, for tests without a browser."""
        code = secrets.token_hex(16)
        with self._lock:
            if openid not in self._state.users:
                raise KeyError(openid)
            self._state.codes[code] = _Grant(openid=openid, scope=scope, issued_at=self.clock())
        return code

    # -- endpoints ---------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes) -> _Reply:
        routes: dict[tuple[str, str], Callable[[dict[str, str], bytes], _Reply]] = {
            ("GET", "/connect/oauth2/authorize"): self._authorize_page,
            ("POST", "/connect/oauth2/authorize"): self._authorize_confirm,
            ("GET", "/sns/oauth2/access_token"): self._oauth_token,
            ("GET", "/sns/oauth2/refresh_token"): self._oauth_refresh,
            ("GET", "/sns/userinfo"): self._userinfo,
            ("GET", "/sns/auth"): self._sns_auth,
            ("GET", "/cgi-bin/token"): self._client_token,
            ("POST", "/cgi-bin/message/template/send"): self._template_send,
            ("POST", "/cgi-bin/message/subscribe/bizsend"): self._subscribe_send,
            ("GET", "/simulator/messages"): self._messages_page,
            ("POST", "/simulator/faults"): self._faults,
            ("GET", "/"): lambda q, b: _redirect("/simulator/messages"),
            ("GET", "/favicon.ico"): lambda q, b: _Reply(204, b"", "image/x-icon", {}),
        }
        handler = routes.get((method, path))
        if handler is None:
            if any(route_path == path for _, route_path in routes):
                return _json({"errcode": 43001, "errmsg": "require GET method"}, status=405)
            return _json({"errcode": 48001, "errmsg": "api unauthorized"}, status=404)
        return handler(query, body)

    # OAuth ---------------------------------------------------------------------

    def _check_authorize_query(self, query: dict[str, str]) -> str | None:
        if query.get("appid") != self.app_id:
            return "appid 参数错误"
        if not query.get("redirect_uri", "").startswith(("http://", "https://")):
            return "redirect_uri 参数错误"
        if query.get("response_type") != "code":
            return "response_type 参数错误"
        if query.get("scope") not in SCOPES:
            return "scope 参数错误"
        return None

    def _authorize_page(self, query: dict[str, str], body: bytes) -> _Reply:
        problem = self._check_authorize_query(query)
        if problem:
            return _html(_error_page(problem), status=400)
        return _html(_authorize_page(query, self.users()))

    def _authorize_confirm(self, query: dict[str, str], body: bytes) -> _Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
        problem = self._check_authorize_query(form)
        if problem:
            return _html(_error_page(problem), status=400)
        redirect_uri = form["redirect_uri"]
        state = form.get("state", "")
        if form.get("action") == "deny":
            # The real platform returns to the page without a code when the user refuses.
            return _redirect(_with_query(redirect_uri, {"state": state}))
        choice = form.get("user", "")
        if choice == "__new__":
            nickname = form.get("nickname", "").strip()
            if not nickname or len(nickname) > 32:
                page = _authorize_page(form, self.users(), error="请填写 1 至 32 个字的微信昵称")
                return _html(page, status=400)
            openid = self.add_user(nickname).openid
        elif choice in {user.openid for user in self.users()}:
            openid = choice
        else:
            return _html(
                _authorize_page(form, self.users(), error="请选择一个微信用户"), status=400
            )
        code = self.issue_code(openid, form["scope"])
        return _redirect(_with_query(redirect_uri, {"code": code, "state": state}))

    def _check_app(self, query: dict[str, str], secret_key: str = "secret") -> _Reply | None:
        if query.get("appid") != self.app_id:
            return _error(port.INVALID_APPID, "invalid appid")
        if not secrets.compare_digest(
            query.get(secret_key, "").encode("utf-8"), self.app_secret.encode("utf-8")
        ):
            return _error(port.INVALID_APPSECRET, "invalid appsecret")
        return None

    def _oauth_token(self, query: dict[str, str], body: bytes) -> _Reply:
        refused = self._check_app(query)
        if refused:
            return refused
        if query.get("grant_type") != "authorization_code":
            return _error(40002, "invalid grant_type")
        now = self.clock()
        with self._lock:
            grant = self._state.codes.get(query.get("code", ""))
            if grant is None or now - grant.issued_at > CODE_TTL_SECONDS:
                return _error(port.INVALID_CODE, "invalid code")
            if grant.used:
                return _error(port.CODE_BEEN_USED, "code been used")
            grant.used = True
            access_token = secrets.token_urlsafe(48)
            refresh_token = secrets.token_urlsafe(48)
            self._state.oauth_tokens[access_token] = _Grant(grant.openid, grant.scope, now)
            self._state.refresh_tokens[refresh_token] = _Grant(grant.openid, grant.scope, now)
            user = self._state.users[grant.openid]
        answer: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": TOKEN_TTL_SECONDS,
            "refresh_token": refresh_token,
            "openid": user.openid,
            "scope": grant.scope,
            "is_snapshotuser": 0,
        }
        if user.unionid:
            answer["unionid"] = user.unionid
        return _json(answer)

    def _oauth_refresh(self, query: dict[str, str], body: bytes) -> _Reply:
        if query.get("appid") != self.app_id:
            return _error(port.INVALID_APPID, "invalid appid")
        now = self.clock()
        with self._lock:
            grant = self._state.refresh_tokens.get(query.get("refresh_token", ""))
            if grant is None or now - grant.issued_at > 30 * 86400:
                return _error(40030, "invalid refresh_token")
            access_token = secrets.token_urlsafe(48)
            self._state.oauth_tokens[access_token] = _Grant(grant.openid, grant.scope, now)
        return _json(
            {
                "access_token": access_token,
                "expires_in": TOKEN_TTL_SECONDS,
                "refresh_token": query["refresh_token"],
                "openid": grant.openid,
                "scope": grant.scope,
            }
        )

    def _oauth_grant(self, query: dict[str, str]) -> _Grant | _Reply:
        token = query.get("access_token", "")
        if not token:
            return _error(port.ACCESS_TOKEN_MISSING, "access_token missing")
        with self._lock:
            grant = self._state.oauth_tokens.get(token)
        if grant is None or grant.openid != query.get("openid"):
            return _error(
                port.INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest"
            )
        if self.clock() - grant.issued_at > TOKEN_TTL_SECONDS:
            return _error(port.ACCESS_TOKEN_EXPIRED, "access_token expired")
        return grant

    def _userinfo(self, query: dict[str, str], body: bytes) -> _Reply:
        grant = self._oauth_grant(query)
        if isinstance(grant, _Reply):
            return grant
        if grant.scope != "snsapi_userinfo":
            return _error(port.API_UNAUTHORIZED, "api unauthorized")
        with self._lock:
            user = self._state.users[grant.openid]
        answer: dict[str, Any] = {
            "openid": user.openid,
            "nickname": user.nickname,
            "sex": 0,
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": "",
            "privilege": [],
        }
        if user.unionid:
            answer["unionid"] = user.unionid
        return _json(answer)

    def _sns_auth(self, query: dict[str, str], body: bytes) -> _Reply:
        grant = self._oauth_grant(query)
        if isinstance(grant, _Reply):
            return grant
        return _json({"errcode": 0, "errmsg": "ok"})

    # Official account API -----------------------------------------------------

    def _client_token(self, query: dict[str, str], body: bytes) -> _Reply:
        if query.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        refused = self._check_app(query)
        if refused:
            return refused
        token = secrets.token_urlsafe(96)
        with self._lock:
            self._state.access_tokens[token] = self.clock() + TOKEN_TTL_SECONDS
        return _json({"access_token": token, "expires_in": TOKEN_TTL_SECONDS})

    def _check_access_token(self, query: dict[str, str]) -> _Reply | None:
        token = query.get("access_token", "")
        if not token:
            return _error(port.ACCESS_TOKEN_MISSING, "access_token missing")
        with self._lock:
            expires_at = self._state.access_tokens.get(token)
        if expires_at is None:
            return _error(
                port.INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest"
            )
        if self.clock() >= expires_at:
            return _error(port.ACCESS_TOKEN_EXPIRED, "access_token expired")
        return None

    def _receive(self, kind: str, query: dict[str, str], body: bytes, link_key: str) -> _Reply:
        refused = self._check_access_token(query)
        if refused:
            return refused
        try:
            payload = json.loads(body.decode("utf-8"))
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            return _error(port.DATA_FORMAT_ERROR, "data format error")
        with self._lock:
            if self._state.faults.count > 0:
                self._state.faults.count -= 1
                return _error(self._state.faults.errcode, self._state.faults.errmsg)
            openid = str(payload.get("touser", ""))
            if openid not in self._state.users:
                return _error(port.INVALID_OPENID, "invalid openid")
            template_id = str(payload.get("template_id", ""))
            if not template_id:
                return _error(port.INVALID_TEMPLATE_ID, "invalid template_id")
            raw_data = payload.get("data") or {}
            if not isinstance(raw_data, dict):
                return _error(port.DATA_FORMAT_ERROR, "data format error")
            data = {
                str(key): str(value.get("value", "")) if isinstance(value, dict) else str(value)
                for key, value in raw_data.items()
            }
            self._state.next_msgid += 1
            message = ReceivedMessage(
                msgid=self._state.next_msgid,
                kind=kind,
                openid=openid,
                template_id=template_id,
                data=data,
                link=str(payload.get(link_key) or ""),
                received_at=self.clock(),
            )
            self._state.messages.append(message)
        return _json({"errcode": 0, "errmsg": "ok", "msgid": message.msgid})

    def _template_send(self, query: dict[str, str], body: bytes) -> _Reply:
        return self._receive("template", query, body, "url")

    def _subscribe_send(self, query: dict[str, str], body: bytes) -> _Reply:
        return self._receive("subscribe", query, body, "page")

    # Simulator's own pages -----------------------------------------------------

    def _messages_page(self, query: dict[str, str], body: bytes) -> _Reply:
        openid = query.get("openid") or None
        messages = self.messages(openid)
        if query.get("format") == "json":
            return _json({"messages": [asdict(m) for m in messages]})
        nicknames = {user.openid: user.nickname for user in self.users()}
        return _html(_messages_page(messages, nicknames, openid))

    def _faults(self, query: dict[str, str], body: bytes) -> _Reply:
        try:
            payload = json.loads(body.decode("utf-8") or "{}")
            if payload.get("expire_tokens"):
                self.expire_access_tokens()
            if "count" in payload:
                self.inject_faults(
                    int(payload["count"]),
                    int(payload.get("errcode", port.SYSTEM_BUSY)),
                    str(payload.get("errmsg", "system error")),
                )
        except (ValueError, TypeError, AttributeError):
            return _json({"errcode": port.DATA_FORMAT_ERROR, "errmsg": "data format error"}, 400)
        with self._lock:
            faults = asdict(self._state.faults)
        return _json({"errcode": 0, "errmsg": "ok", "faults": faults})


@contextmanager
def running_wechat_simulator(
    *, app_id: str = "wxsimulator0000001", app_secret: str = "simulator-secret", **options: Any
) -> Iterator[WeChatSimulator]:
    """A simulator on a free loopback port for the duration of the block."""
    simulator = WeChatSimulator(app_id=app_id, app_secret=app_secret, **options)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


# -- pages -------------------------------------------------------------------------

_STYLE = """
*{box-sizing:border-box}body{margin:0;background:#ededed;color:rgba(0,0,0,.9);
font:15px/1.5 "PingFang SC","Noto Sans CJK SC","Microsoft YaHei",system-ui,sans-serif}
.bar{position:sticky;top:0;background:#ededed;text-align:center;padding:12px;font-weight:600;
border-bottom:1px solid rgba(0,0,0,.06)}
.wrap{max-width:480px;margin:0 auto;padding:16px}
.app{text-align:center;padding:20px 0 8px}.logo{width:56px;height:56px;border-radius:12px;
background:#1a6fe8;color:#fff;font-size:26px;line-height:56px;margin:0 auto 8px;font-weight:700}
.hint{color:rgba(0,0,0,.55);font-size:13px;margin:4px 0 16px;text-align:center}
.card{background:#fff;border-radius:10px;overflow:hidden;margin-bottom:16px}
.row{display:flex;align-items:center;gap:12px;padding:14px 16px;border-top:1px solid rgba(0,0,0,.06)}
.row:first-child{border-top:0}.row input[type=radio]{accent-color:#07c160;width:18px;height:18px}
.avatar{width:36px;height:36px;border-radius:6px;background:#d8e6fb;color:#1a6fe8;text-align:center;
line-height:36px;font-weight:600;flex:none}.nick{flex:1}
.sub{display:block;color:rgba(0,0,0,.45);font-size:12px;word-break:break-all}
.field{width:100%;margin-top:6px;padding:8px 10px;border:1px solid rgba(0,0,0,.15);border-radius:6px;font:inherit}
.btn{display:block;width:100%;padding:11px;border:0;border-radius:8px;font:inherit;font-weight:600;
margin-bottom:12px;cursor:pointer}.ok{background:#07c160;color:#fff}.no{background:#f2f2f2;color:#06ae56}
.error{background:#fff1f0;color:#fa5151;padding:10px 14px;border-radius:8px;margin-bottom:12px}
.msg{background:#fff;border-radius:10px;margin-bottom:14px;padding:14px 16px}
.msg h3{margin:0 0 8px;font-size:16px}.kv{display:flex;gap:8px;font-size:14px;margin:3px 0}
.k{color:rgba(0,0,0,.5);flex:none;min-width:5.5em}.meta{color:rgba(0,0,0,.45);font-size:12px;margin-bottom:6px}
.more{display:block;border-top:1px solid rgba(0,0,0,.06);margin-top:10px;padding-top:10px;
color:rgba(0,0,0,.9);text-decoration:none;font-size:14px}.to{font-weight:600;margin:18px 0 8px;color:rgba(0,0,0,.6)}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body><div class="bar">{html.escape(title)}</div><div class="wrap">{body}</div></body></html>'
    )


def _error_page(problem: str) -> str:
    return _page("微信授权", f'<div class="error">授权失败：{html.escape(problem)}</div>')


def _authorize_page(query: dict[str, str], users: list[SimulatedUser], error: str = "") -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">'
        for name in ("appid", "redirect_uri", "response_type", "scope", "state")
    )
    rows = "".join(
        '<label class="row">'
        f'<input type="radio" name="user" value="{html.escape(user.openid)}"{" checked" if i == 0 else ""}>'
        f'<span class="avatar">{html.escape(user.nickname[:1])}</span>'
        f'<span class="nick">{html.escape(user.nickname)}<span class="sub">{html.escape(user.openid)}</span></span>'
        "</label>"
        for i, user in enumerate(users)
    )
    new_user = (
        '<label class="row"><input type="radio" name="user" value="__new__"'
        f"{' checked' if not users else ''}>"
        '<span class="avatar">+</span><span class="nick">新用户'
        '<input class="field" name="nickname" maxlength="32" placeholder="微信昵称"'
        ' aria-label="新用户的微信昵称"></span></label>'
    )
    asks = "获取你的昵称、头像" if query.get("scope") == "snsapi_userinfo" else "获取你的身份标识"
    problem = f'<div class="error" role="alert">{html.escape(error)}</div>' if error else ""
    body = (
        '<div class="app"><div class="logo">静</div><strong>健康静安</strong></div>'
        f'<p class="hint">申请{asks}（微信模拟器：请选择你要扮演的微信用户）</p>'
        f'{problem}<form method="post" action="/connect/oauth2/authorize">{hidden}'
        f'<div class="card">{rows}{new_user}</div>'
        '<button class="btn ok" name="action" value="allow" type="submit">允许</button>'
        '<button class="btn no" name="action" value="deny" type="submit">拒绝</button></form>'
    )
    return _page("微信授权", body)


def _messages_page(
    messages: list[ReceivedMessage], nicknames: dict[str, str], openid: str | None
) -> str:
    parts: list[str] = []
    if not messages:
        parts.append('<p class="hint">还没有收到任何消息</p>')
    current = None
    for message in messages if openid else sorted(messages, key=lambda m: (m.openid, -m.msgid)):
        if message.openid != current:
            current = message.openid
            who = nicknames.get(message.openid, "未知用户")
            parts.append(
                f'<div class="to">发给 <a href="?openid={html.escape(message.openid)}">'
                f'{html.escape(who)}</a> <span class="sub">{html.escape(message.openid)}</span></div>'
            )
        data = dict(message.data)
        title = data.pop("first", "") or data.pop("thing1", "") or "服务通知"
        remark = data.pop("remark", "")
        rows = "".join(
            f'<div class="kv"><span class="k">{html.escape(key)}</span><span>{html.escape(value)}</span></div>'
            for key, value in data.items()
        )
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(message.received_at))
        kind = "模板消息" if message.kind == "template" else "订阅通知"
        more = (
            f'<a class="more" href="{html.escape(message.link)}">详情 ›</a>' if message.link else ""
        )
        parts.append(
            f'<article class="msg" data-msgid="{message.msgid}"><div class="meta">健康静安 · {kind} · {when}</div>'
            f"<h3>{html.escape(title)}</h3>{rows}"
            + (f'<p class="sub">{html.escape(remark)}</p>' if remark else "")
            + f'<p class="sub">模板 {html.escape(message.template_id)}</p>{more}</article>'
        )
    return _page("微信消息（模拟器）", "".join(parts))


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
