"""Login, server-side sessions and the cookie, wired into Chainlit.

Why this module patches Chainlit rather than only registering callbacks: Chainlit's callbacks run
at login only. Once a token is issued, Chainlit trusts it until it expires (15 days by default),
on every HTTP route and websocket connection, whatever happened since: logout only clears the
browser's cookie. :func:`install` therefore hooks the few places where Chainlit reads a token, so
that each use also checks the server-side session of :mod:`medassist.sessions`:

* ``chainlit.auth.decode_jwt`` — the single function behind ``get_current_user``, i.e. every
  authenticated route (threads, elements, actions, files, our ``/medassist/files`` route) and the
  websocket ``connect``; ``chainlit.server.decode_jwt`` too (``/auth/jwt`` re-issues tokens);
* every websocket event handler (messages, stop, settings…), since an open socket never shows its
  token again: the session is checked per event and a rejected socket is disconnected;
* the login: :func:`password_login` is registered as Chainlit's password callback *directly*,
  not through ``@cl.password_auth_callback``, whose wrapper swallows exceptions — the throttle's
  HTTP 429 would become a plain "wrong password";
* the logout (:func:`logout`): the session is revoked and its open sockets are closed;
* the token lifetime: Chainlit's own ``user_session_timeout`` (JWT expiry and cookie max-age) set
  from ``settings.session_ttl_hours`` (default 12 h); the registry enforces the same bound;
* the cookie: Chainlit marks it ``Secure`` only with ``CHAINLIT_COOKIE_SAMESITE=none``; a small
  ASGI middleware (:class:`RequestContext`) adds ``Secure`` to every cookie of a response served
  over HTTPS (the request's scheme, or ``X-Forwarded-Proto: https`` from a reverse proxy;
  ``cookie_secure=always`` forces it) and tells the login which client address is knocking
  (uvicorn already resolves ``X-Forwarded-For`` for the proxies in ``FORWARDED_ALLOW_IPS``);
* the login page's text for HTTP 429 (:func:`_translated_throttle_messages`).

These are Chainlit 2.12's internals: ``tests/test_auth_http.py`` checks each hook is in place in a
running server (a Chainlit upgrade that moves one fails there, not silently in production).

Any other login path added later (header or OAuth callbacks) must open a session the same way
(:func:`medassist.sessions.SessionRegistry.open`, id in the user's metadata): a token without
one is refused everywhere.

Failed, throttled and successful logins and logouts are written to the audit trail
(:func:`medassist.audit.record`); the password never is. The cookie's signing secret is
``CHAINLIT_AUTH_SECRET``: :func:`ensure_auth_secret` generates one into
``<data_dir>/chainlit_secret`` (mode 0600) when neither the environment nor that file provides it.
Users, passwords and roles are in :mod:`medassist.users`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import math
import os
import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

import jwt as pyjwt

from medassist import sessions, users
from medassist.settings import Settings, get_settings
from medassist.users import write_private

SECRET_ENV = "CHAINLIT_AUTH_SECRET"
SECRET_FILE = "chainlit_secret"
#: key of the session id in the Chainlit user's metadata (hence in the signed token)
SESSION_KEY = "sid"
#: websocket events allowed without a valid session (ending a session must always work)
UNGUARDED_EVENTS = frozenset({"connect", "disconnect", "clear_session"})
#: how the login page names an HTTP 429 when it looks up its error text (the status text, as is and lower-cased)
THROTTLED_STATUS_TEXTS = ("Too Many Requests", "too many requests")

log = logging.getLogger("medassist.ui.auth")

_client: ContextVar[str | None] = ContextVar("medassist_client", default=None)


def ensure_auth_secret(settings: Settings) -> str:
    """The cookie-signing secret: environment, else ``<data_dir>/chainlit_secret`` (created if absent)."""
    env = os.environ.get(SECRET_ENV, "").strip()
    if env:
        return env
    path = settings.data_dir / SECRET_FILE
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    value = secrets.token_urlsafe(48)
    write_private(path, value + "\n")
    return value


class TokenRejected(pyjwt.InvalidTokenError):
    """A well-signed token whose server-side session is over. A subclass of PyJWT's error because
    that is what Chainlit's ``/auth/jwt`` catches to answer 401 (anything else would be a 500)."""


# ------------------------------------------------------------------------------------- audit
@dataclass(frozen=True)
class _Label:
    value: str


@dataclass(frozen=True)
class _Subject:
    """Who an audit line about a login is about, when the name may match no account."""
    username: str
    role: _Label


def _safe_name(name: str | None) -> str:
    """The submitted account name as it may appear in logs: it is typed by anyone, so control
    characters (forged log lines) and odd characters are replaced, and its length bounded."""
    return re.sub(r"[^A-Za-z0-9._@+-]", "?", (name or "").strip())[:64] or "?"


def _audit_login(name: str | None, outcome: str, detail: str, *, action: str = "login") -> None:
    from medassist import audit

    try:
        rec = users.load_users(users.users_file_path(get_settings())).get((name or "").strip())
    except users.UsersFileError:
        rec = None
    subject = rec.to_user() if rec else _Subject(username=_safe_name(name), role=_Label("inconnu"))
    try:
        audit.record(user=subject, action=action, tool="ui", outcome=outcome, detail=detail)
    except Exception as exc:  # noqa: BLE001 - an audit failure must not open or close the door by itself
        log.error("journal d'audit indisponible pour « %s » : %s", action, type(exc).__name__)


# ------------------------------------------------------------------------------------- login
def current_client() -> str | None:
    """The client address of the request being served (set by :class:`RequestContext`)."""
    return _client.get()


async def _blocking(func, *args, **kwargs):
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args, **kwargs))


async def password_login(username: str, password: str):
    """Chainlit's password callback: throttle, check the password, open a session.

    Returns the Chainlit user (its metadata carries the session id into the token) or ``None``
    (Chainlit answers 401 « Identifiant ou mot de passe incorrect. », the same for an unknown
    account and a wrong password); raises HTTP 429 with a French message when throttled."""
    import chainlit as cl
    from fastapi import HTTPException

    settings = get_settings()
    client = current_client()
    where = f"depuis {client}" if client else "adresse inconnue"
    try:
        await _blocking(sessions.throttle(settings).attempt, username, client)
    except sessions.TooManyAttempts as exc:
        log.warning("connexion refusée (trop de tentatives, %s) pour « %s » %s", exc.scope, _safe_name(username), where)
        await _blocking(_audit_login, username, "denied", f"trop de tentatives ({exc.scope}) {where}")
        raise HTTPException(status_code=429, detail=str(exc),
                            headers={"Retry-After": str(int(exc.retry_after_s) + 1)}) from None
    try:
        user = await _blocking(users.authenticate, username, password, settings)
    except users.UsersFileError as exc:  # nobody gets in while the file is broken; the admin sees why
        log.error("connexion impossible : %s", exc)
        return None
    if user is None:
        log.warning("échec de connexion pour « %s » %s", _safe_name(username), where)
        await _blocking(_audit_login, username, "denied", f"échec de connexion {where}")
        return None
    await _blocking(sessions.throttle(settings).succeeded, username)
    try:
        sid = await _blocking(sessions.registry(settings).open, user.username, client=client)
    except sessions.SessionRejected:  # the account vanished between the two reads of the file
        return None
    await _blocking(_audit_login, user.username, "ok", f"connexion {where}")
    return cl.User(identifier=user.username, display_name=user.display_name,
                   metadata={"role": user.role.value, "provider": "credentials", SESSION_KEY: sid})


# ------------------------------------------------------------------------------------- checks
def check_session(user) -> None:
    """Raise :class:`TokenRejected` unless the token's session is open and its account unchanged."""
    sid = (getattr(user, "metadata", None) or {}).get(SESSION_KEY)
    try:
        sessions.registry(get_settings()).check(sid, user.identifier)
    except sessions.SessionRejected as exc:
        log.info("jeton refusé pour « %s » : session %s", _safe_name(user.identifier), exc.reason)
        raise TokenRejected(f"session {exc.reason}") from None


def _checked_decoder(decode):
    """``decode_jwt`` (signature, expiry) followed by the server-side session check."""
    if getattr(decode, "_medassist_checked", False):
        return decode

    @functools.wraps(decode)
    def decode_checked(token: str):
        user = decode(token)
        check_session(user)
        return user

    decode_checked._medassist_checked = True
    decode_checked._medassist_original = decode
    return decode_checked


def _token_claims(token: str | None) -> dict:
    """The claims of a token whose signature is valid, expired or not (``{}`` otherwise)."""
    secret = os.environ.get(SECRET_ENV)
    if not token or not secret:
        return {}
    try:
        return pyjwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})
    except pyjwt.InvalidTokenError:
        return {}


def _token_sid(token: str | None) -> str | None:
    return (_token_claims(token).get("metadata") or {}).get(SESSION_KEY)


def _socket_token(session) -> str | None:
    """The token of a websocket session: the cookie of its latest connection (a reconnection after a
    new login brings a new one), else the token it connected with."""
    from chainlit.socket import _get_token

    environ = getattr(session, "environ", None) or {}
    return _get_token(environ) or getattr(session, "token", None)


def _guard_socket_handlers(sio) -> None:
    """Check the session before every websocket event; disconnect the socket when it is over."""
    import chainlit.auth as cl_auth
    from chainlit.session import WebsocketSession

    handlers = sio.handlers.get("/", {})
    for event, handler in list(handlers.items()):
        if event in UNGUARDED_EVENTS or getattr(handler, "_medassist_checked", False):
            continue

        def guarded(handler=handler, event=event):
            @functools.wraps(handler)
            async def on_event(sid, *args):
                if cl_auth.require_login():
                    session = WebsocketSession.get(sid)
                    try:
                        if session is None:
                            raise TokenRejected("no websocket session")
                        cl_auth.decode_jwt(_socket_token(session) or "")  # the checked decoder
                    except Exception as exc:  # noqa: BLE001 - whatever the failure, fail closed
                        log.info("événement « %s » refusé (%s) : connexion fermée", event, type(exc).__name__)
                        await sio.disconnect(sid)
                        return None
                result = handler(sid, *args)
                return await result if inspect.isawaitable(result) else result

            on_event._medassist_checked = True
            return on_event

        handlers[event] = guarded()


async def _disconnect_sockets_of(sid: str) -> int:
    """Close the open websockets of a session (after a logout: a socket never re-reads the cookie)."""
    from chainlit.server import sio
    from chainlit.session import ws_sessions_sid

    closed = 0
    for socket_id, session in list(ws_sessions_sid.items()):
        if _token_sid(getattr(session, "token", None)) == sid or _token_sid(_socket_token(session)) == sid:
            await sio.disconnect(socket_id)
            closed += 1
    return closed


async def logout(request, response):
    """Chainlit's logout callback (the cookie is already cleared): revoke the session, close its sockets."""
    from chainlit.auth import get_token_from_cookies

    token = get_token_from_cookies(request.cookies)
    if not token:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
    claims = _token_claims(token)
    sid = (claims.get("metadata") or {}).get(SESSION_KEY)
    if sid:
        if await _blocking(sessions.registry(get_settings()).revoke, sid, sessions.LOGOUT):
            await _blocking(_audit_login, claims.get("identifier"), "ok", "déconnexion", action="logout")
        await _disconnect_sockets_of(sid)
    return {"success": True}


# ------------------------------------------------------------------------------------- cookie
def _is_https(scope, settings: Settings) -> bool:
    if settings.cookie_secure == "always" or scope.get("scheme") == "https":
        return True
    for name, value in scope.get("headers") or []:
        if name == b"x-forwarded-proto":
            return value.split(b",")[0].strip().lower() == b"https"
    return False


def secure_cookie_header(value: bytes) -> bytes:
    """A ``Set-Cookie`` value with the ``Secure`` attribute (added once)."""
    attributes = [a.strip().lower() for a in value.split(b";")[1:]]
    return value if b"secure" in attributes else value + b"; Secure"


class RequestContext:
    """ASGI middleware: remembers the client address for the login, and marks cookies ``Secure``
    on responses served over HTTPS."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = scope.get("client")
        token = _client.set(str(client[0]) if client else None)
        secure = _is_https(scope, get_settings())

        async def send_secure(message):
            if secure and message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [(k, secure_cookie_header(v) if k.lower() == b"set-cookie" else v)
                                      for k, v in message.get("headers") or []]
            await send(message)

        try:
            await self.app(scope, receive, send_secure)
        finally:
            _client.reset(token)


# ------------------------------------------------------------------------------------- wiring
def _translated_throttle_messages(config, settings: Settings) -> None:
    """The French text the login page shows for HTTP 429.

    Chainlit's page displays ``auth.login.errors.<status text of the response>`` from the
    translation file (« Too Many Requests » here; the JSON detail is not read), falling back to
    « Identifiant ou mot de passe incorrect. », which would hide the throttling. The page cannot
    know the exact wait (the translations are loaded with the page), so it shows its upper bound:
    the window; the JSON detail and the ``Retry-After`` header give the exact figure."""
    if getattr(config.load_translation, "_medassist_checked", False):
        return
    original = config.load_translation
    text = sessions.throttle_message(max(1, math.ceil(settings.login_window_minutes)), at_most=True)

    @functools.wraps(original)
    def load_translation(language: str):
        translation = original(language)
        errors = translation.setdefault("auth", {}).setdefault("login", {}).setdefault("errors", {})
        for key in THROTTLED_STATUS_TEXTS:
            errors.setdefault(key, text)
        return translation

    load_translation._medassist_checked = True
    object.__setattr__(config, "load_translation", load_translation)


def install(app, settings: Settings | None = None) -> None:
    """Wire login, sessions, logout, token lifetime and cookies into the Chainlit server (idempotent).

    Called when ``ui/app.py`` is imported, before the server serves anything."""
    import chainlit.auth as cl_auth
    import chainlit.server as cl_server
    import chainlit.socket  # noqa: F401 - registers the websocket handlers guarded below
    from chainlit.config import config

    settings = settings or get_settings()
    config.project.user_session_timeout = int(settings.session_ttl_hours * 3600)
    config.code.password_auth_callback = password_login
    config.code.on_logout = logout
    cl_auth.decode_jwt = _checked_decoder(cl_auth.decode_jwt)
    cl_server.decode_jwt = _checked_decoder(cl_server.decode_jwt)
    _guard_socket_handlers(cl_server.sio)
    _translated_throttle_messages(config, settings)
    if not any(getattr(m, "cls", None) is RequestContext for m in app.user_middleware):
        app.add_middleware(RequestContext)
