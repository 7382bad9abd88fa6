"""The web UI's login, sessions and cookie, exercised over HTTP and the websocket (no browser).

The Chainlit application of ``ui/app.py`` runs in a subprocess under uvicorn (no lifespan: the
embedding model is not loaded; importing ``ui/app.py`` installs :mod:`ui.auth`), on its own data
dir and users file; the tests talk to it with httpx and a Socket.IO client, as the page does.
A subprocess rather than an in-process import: importing ``ui/app.py`` changes Chainlit's
process-wide state (callbacks, page template, middleware) that other test modules rely on.
uvicorn trusts ``X-Forwarded-For`` from 127.0.0.1 (its default ``FORWARDED_ALLOW_IPS``): the tests
use it to appear as distinct client addresses.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest
import yaml
from sqlalchemy import delete, select

from medassist import audit, sessions
from medassist.db import engine_for
from medassist.settings import Settings
from medassist.users import ensure_users_file

REPO = Path(__file__).resolve().parent.parent
SECRET = "secret-de-test-" + "x" * 40
THREADS = {"pagination": {"first": 20, "cursor": None}, "filter": {}}
STARTUP_TIMEOUT_S = 180

#: the server: ui/app.py imported as ``chainlit run`` would, install() called twice (idempotent),
#: what it wired written to probe.json, then uvicorn without lifespan
SERVER = """
import json, sys
import uvicorn
import ui.app  # noqa: F401
import chainlit.auth as cl_auth, chainlit.server as cl_server
from chainlit.config import config
from ui import auth
auth.install(cl_server.app)
handlers = cl_server.sio.handlers["/"]
probe = {
    "guarded_events": sorted(e for e, h in handlers.items() if getattr(h, "_medassist_checked", False)),
    "unguarded_events": sorted(e for e, h in handlers.items() if not getattr(h, "_medassist_checked", False)),
    "decode_checked": [getattr(f, "_medassist_checked", False) for f in (cl_auth.decode_jwt, cl_server.decode_jwt)],
    "decode_wrapped_once": not getattr(getattr(cl_auth.decode_jwt, "_medassist_original", None),
                                       "_medassist_checked", False),
    "login_callback": config.code.password_auth_callback is auth.password_login,
    "logout_callback": config.code.on_logout is auth.logout,
    "middlewares": sum(getattr(m, "cls", None) is auth.RequestContext for m in cl_server.app.user_middleware),
    "session_timeout": config.project.user_session_timeout,
}
open(sys.argv[2], "w").write(json.dumps(probe))
uvicorn.run(cl_server.app, host="127.0.0.1", port=int(sys.argv[1]), lifespan="off", log_level="warning")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``(base url, settings of its data dir, probe)`` of a UI server running in a subprocess."""
    data = tmp_path_factory.mktemp("auth-ui")
    settings = Settings(data_dir=data, database_url="", users_file=data / "users.yaml")
    ensure_users_file(settings, rounds=4)
    from ui.datalayer import ensure_schema_sync

    ensure_schema_sync(settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDASSIST_", "CHAINLIT_"))}
    env.update(MEDASSIST_DATA_DIR=str(data), MEDASSIST_USERS_FILE=str(data / "users.yaml"),
               CHAINLIT_AUTH_SECRET=SECRET, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    log_path, probe_path = data / "server.log", data / "probe.json"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(probe_path)], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + STARTUP_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail("serveur de test non démarré :\n" + log_path.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(url + "/auth/config", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield url, settings, json.loads(probe_path.read_text())
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def ui(server):
    """The server, with its users file restored and no login attempt left by a previous test."""
    url, settings, _ = server
    users_file = settings.users_file
    original = users_file.read_text(encoding="utf-8")
    with sessions.throttle(settings).engine.begin() as cx:
        cx.execute(delete(sessions.login_attempts))
    yield url, settings
    users_file.write_text(original, encoding="utf-8")


def _client(url: str, address: str = "10.20.30.40", token: str | None = None, **headers) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-Forwarded-For": address, **headers}, timeout=30,
                        cookies={"access_token": token} if token else None)


def _login_response(url: str, username: str, password: str, **headers) -> httpx.Response:
    with _client(url, **headers) as c:
        return c.post("/login", data={"username": username, "password": password})


def _login(url: str, username: str, password: str) -> str:
    r = _login_response(url, username, password)
    assert r.status_code == 200, r.text
    return r.cookies["access_token"]


def _threads_status(url: str, token: str, *, bearer: bool = False) -> int:
    if bearer:
        with _client(url) as c:
            return c.post("/project/threads", json=THREADS, headers={"Authorization": f"Bearer {token}"}).status_code
    with _client(url, token=token) as c:
        return c.post("/project/threads", json=THREADS).status_code


def _logout(url: str, token: str) -> httpx.Response:
    with _client(url, token=token) as c:
        return c.post("/logout")


def _edit(path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["users"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _audit_rows(settings: Settings, username: str) -> list[dict]:
    table = audit.audit_log
    with engine_for(settings.effective_database_url).connect() as cx:
        rows = cx.execute(select(table).where(table.c.username == username).order_by(table.c.id.desc()))
        return [dict(r) for r in rows.mappings()]


# ----------------------------------------------------------------------------- revocation
def test_logged_out_token_gets_401_on_threads(ui):
    url, settings = ui
    token = _login(url, "dr.martin", "martin-demo")
    assert _threads_status(url, token) == 200
    assert _threads_status(url, token, bearer=True) == 200
    assert _logout(url, token).status_code == 200
    # a copy of the token kept after logout: refused everywhere, cookie or header
    assert _threads_status(url, token) == 401
    assert _threads_status(url, token, bearer=True) == 401
    with _client(url) as c:
        assert c.get("/user", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        # nor can it be exchanged for a fresh token
        assert c.post("/auth/jwt", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # a new login works
    assert _threads_status(url, _login(url, "dr.martin", "martin-demo")) == 200
    assert any(r["action"] == "logout" and r["outcome"] == "ok" for r in _audit_rows(settings, "dr.martin"))


def test_token_of_a_removed_user_gets_401(ui):
    url, settings = ui
    token = _login(url, "dr.petit", "petit-demo")
    assert _threads_status(url, token) == 200
    saved = yaml.safe_load(settings.users_file.read_text(encoding="utf-8"))["users"]["dr.petit"]
    _edit(settings.users_file, lambda u: u.pop("dr.petit"))
    assert _threads_status(url, token) == 401
    _edit(settings.users_file, lambda u: u.__setitem__("dr.petit", saved))
    assert _threads_status(url, token) == 401  # revoked for good, not just while absent


@pytest.mark.parametrize("change", [
    pytest.param(lambda e: e.__setitem__("patients", ["P002"]), id="patient-scope"),
    pytest.param(lambda e: e.__setitem__("role", "admin"), id="role"),
])
def test_scope_or_role_change_revokes_at_once(ui, change):
    url, settings = ui
    token = _login(url, "dr.petit", "petit-demo")
    other = _login(url, "dr.martin", "martin-demo")
    _edit(settings.users_file, lambda u: change(u["dr.petit"]))
    assert _threads_status(url, token) == 401
    assert _threads_status(url, other) == 200


def test_token_without_server_session_is_refused(ui):
    """A well-signed token issued before sessions existed (or forged with a leaked secret but no
    session row) reads nothing."""
    url, _ = ui
    now = int(time.time())
    claims = {"identifier": "dr.martin", "display_name": "x", "iat": now, "exp": now + 3600}
    no_sid = pyjwt.encode({**claims, "metadata": {"role": "clinician"}}, SECRET, algorithm="HS256")
    unknown_sid = pyjwt.encode({**claims, "metadata": {"sid": "inventé"}}, SECRET, algorithm="HS256")
    assert _threads_status(url, no_sid) == 401
    assert _threads_status(url, unknown_sid) == 401


# ----------------------------------------------------------------------------- throttling
def test_sixth_wrong_password_is_throttled_and_failures_audited(ui):
    url, settings = ui
    with _client(url, "10.66.66.66") as c:
        for _ in range(5):
            r = c.post("/login", data={"username": "dr.martin", "password": "Mauvais-Secret-42"})
            assert r.status_code == 401
        r = c.post("/login", data={"username": "dr.martin", "password": "Mauvais-Secret-42"})
        assert r.status_code == 429
        assert r.json()["detail"] == "Trop de tentatives, réessayez dans 5 minutes."
        assert 0 < int(r.headers["Retry-After"]) <= 301
        # even the right password waits: the throttle answers before the password is checked
        assert c.post("/login", data={"username": "dr.martin", "password": "martin-demo"}).status_code == 429
    rows = [r for r in _audit_rows(settings, "dr.martin") if r["action"] == "login"][:7]
    assert [r["outcome"] for r in rows] == ["denied"] * 7
    assert sum("trop de tentatives" in r["detail"] for r in rows) == 2
    assert all("10.66.66.66" in r["detail"] for r in rows)  # the client address behind the proxy
    logs = (settings.data_dir / "server.log").read_text(errors="replace")
    assert "échec de connexion" in logs
    with engine_for(settings.effective_database_url).connect() as cx:
        every_row = repr(cx.execute(select(audit.audit_log)).all())
    for text in (every_row, logs):
        assert "Mauvais-Secret-42" not in text and "martin-demo" not in text
    # another account from another address is not locked out
    assert _login_response(url, "dr.petit", "petit-demo").status_code == 200


def test_address_throttle_stops_spraying_across_accounts(ui):
    url, _ = ui
    with _client(url, "10.77.77.77") as c:
        statuses = [c.post("/login", data={"username": f"compte{i}", "password": "x"}).status_code for i in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429
    # the same accounts from elsewhere are not concerned
    with _client(url, "10.77.77.78") as c:
        assert c.post("/login", data={"username": "compte1", "password": "x"}).status_code == 401


def test_failed_login_of_an_unknown_name_is_audited_safely(ui):
    url, settings = ui
    assert _login_response(url, "faux\nnom", "x").status_code == 401
    row = _audit_rows(settings, "faux?nom")[0]
    assert (row["action"], row["role"], row["outcome"]) == ("login", "inconnu", "denied")


def test_login_page_translates_the_throttle_message(server):
    """The page looks its error text up by the response's status text (« Too Many Requests »)."""
    url, _, _ = server
    r = httpx.get(url + "/project/translations", params={"language": "fr-FR"})
    errors = r.json()["translation"]["auth"]["login"]["errors"]
    for key in ("Too Many Requests", "too many requests"):
        assert errors[key] == "Trop de tentatives, réessayez dans 5 minutes au plus."


# ----------------------------------------------------------------------------- token and cookie
def test_token_and_cookie_live_twelve_hours(ui):
    url, settings = ui
    r = _login_response(url, "dr.martin", "martin-demo")
    cookie = r.headers["set-cookie"]
    assert "Max-Age=43200" in cookie and "HttpOnly" in cookie
    claims = pyjwt.decode(r.cookies["access_token"], SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 12 * 3600
    info = sessions.SessionRegistry(settings).check(claims["metadata"]["sid"], "dr.martin")
    assert info.expires - info.created == 12 * 3600 and info.client == "10.20.30.40"


def test_cookie_secure_behind_an_https_proxy_only(ui):
    url, _ = ui
    plain = _login_response(url, "dr.martin", "martin-demo").headers["set-cookie"]
    assert "secure" not in plain.lower()
    proxied = _login_response(url, "dr.martin", "martin-demo", **{"X-Forwarded-Proto": "https"})
    assert proxied.headers["set-cookie"].endswith("; Secure")
    assert proxied.headers["set-cookie"].lower().count("secure") == 1
    # the logout's cookie deletion too
    with _client(url, token=proxied.cookies["access_token"], **{"X-Forwarded-Proto": "https"}) as c:
        r = c.post("/logout")
    assert "; Secure" in r.headers["set-cookie"]


def test_wiring_is_idempotent_and_guards_every_socket_event(server):
    _, _, probe = server
    assert {"client_message", "stop", "edit_message", "connection_successful", "window_message",
            "chat_settings_change", "audio_chunk"} <= set(probe["guarded_events"])
    assert set(probe["unguarded_events"]) <= {"connect", "disconnect", "clear_session"}
    assert probe["decode_checked"] == [True, True] and probe["decode_wrapped_once"]
    assert probe["login_callback"] and probe["logout_callback"]
    assert probe["middlewares"] == 1 and probe["session_timeout"] == 43200


# ----------------------------------------------------------------------------- websocket
async def _socket(url: str, token: str):
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    messages: asyncio.Queue = asyncio.Queue()
    closed = asyncio.Event()
    client.on("new_message", lambda data: messages.put_nowait(data))
    client.on("disconnect", lambda *args: closed.set())
    await client.connect(url, socketio_path="/ws/socket.io", transports=["websocket"],
                         headers={"Cookie": f"access_token={token}"},
                         auth={"sessionId": str(uuid.uuid4()), "clientType": "webapp", "userEnv": "{}",
                               "chatProfile": None, "threadId": None})
    return client, messages, closed


def test_websocket_events_of_a_revoked_session_are_refused(ui):
    import socketio

    url, settings = ui
    token = _login(url, "dr.petit", "petit-demo")

    async def scenario():
        client, messages, closed = await _socket(url, token)
        try:
            await client.emit("stop")  # Chainlit answers with a message: the event was served
            await asyncio.wait_for(messages.get(), 15)
            _edit(settings.users_file, lambda u: u.pop("dr.petit"))
            await client.emit("stop")
            await asyncio.wait_for(closed.wait(), 15)  # refused, and the socket closed
            await asyncio.sleep(0.3)
            assert messages.empty()
        finally:
            await client.disconnect()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await _socket(url, token)

    asyncio.run(scenario())


def test_logout_closes_the_open_websocket(ui):
    import socketio

    url, _ = ui
    token = _login(url, "dr.martin", "martin-demo")

    async def scenario():
        client, _, closed = await _socket(url, token)
        try:
            await asyncio.get_running_loop().run_in_executor(None, _logout, url, token)
            await asyncio.wait_for(closed.wait(), 15)
        finally:
            await client.disconnect()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await _socket(url, token)

    asyncio.run(scenario())


# ----------------------------------------------------------------------------- unit pieces
def test_secure_cookie_header_added_once():
    from ui.auth import secure_cookie_header

    assert secure_cookie_header(b"a=b; Path=/") == b"a=b; Path=/; Secure"
    assert secure_cookie_header(b"a=b; Secure; Path=/") == b"a=b; Secure; Path=/"
    assert secure_cookie_header(b"secure=1; Path=/") == b"secure=1; Path=/; Secure"  # a cookie *named* secure


@pytest.mark.parametrize(("setting", "scheme", "headers", "secure"), [
    ("auto", "http", [], False),
    ("auto", "https", [], True),
    ("auto", "http", [(b"x-forwarded-proto", b"https")], True),
    ("auto", "http", [(b"x-forwarded-proto", b"http")], False),
    ("always", "http", [], True),
])
def test_request_context_marks_cookies_secure_over_https(monkeypatch, setting, scheme, headers, secure):
    from ui import auth

    monkeypatch.setattr(auth, "get_settings", lambda: Settings(cookie_secure=setting))
    seen: dict = {}

    async def app(scope, receive, send):
        seen["client"] = auth.current_client()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"set-cookie", b"access_token=t; HttpOnly; Path=/"), (b"x-other", b"1")]})

    sent: list = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "scheme": scheme, "headers": headers, "client": ("192.0.2.7", 1234)}
    asyncio.run(auth.RequestContext(app)(scope, None, send))
    cookie = dict(sent[0]["headers"])[b"set-cookie"]
    assert cookie.endswith(b"; Secure") is secure
    assert dict(sent[0]["headers"])[b"x-other"] == b"1"
    assert seen["client"] == "192.0.2.7" and auth.current_client() is None  # reset after the request
