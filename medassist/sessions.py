"""Server-side login sessions and login throttling, in the settings' database.

Why server-side: a signed token alone cannot be taken back. Before this module, logging out only
cleared the browser's cookie, and a copy of the token kept reading the user's conversations (with
patient data) for its whole lifetime, even after the account was deleted from the users file.
Now each login opens a row here, whose id travels inside the token; every request and every
websocket event of the web UI looks the row up (:mod:`ui.auth` wires this into Chainlit) and is
refused when the row is

* revoked: logout, or a revocation by an administrator (:meth:`SessionRegistry.revoke_user`);
* expired: ``settings.session_ttl_hours`` after the login (default 12 h), whatever the token says;
* stale: the users file no longer holds the account, or its password hash, role or patient scope
  changed since the login (:meth:`medassist.users.UserRecord.fingerprint`). Stale sessions are
  revoked when first seen, so the users file stays the one place where access is granted.

Throttling (:class:`LoginThrottle`): failed logins are counted per account name and per client
address over a sliding window (``login_window_minutes``); past ``login_max_failures`` for an
account (or ``login_max_failures_per_address`` for an address) the next attempt is refused
without checking the password, until the oldest failures leave the window. An attempt is
counted *before* the password is checked and forgotten on success, so that parallel guesses
cannot all pass the check before the first failure is written.

Both tables live in the relational database (SQLite under the data dir, PostgreSQL when
``database_url`` is set), so several UI processes behind one load balancer share them.
Times are stored as epoch seconds (floats): the same on both databases, no time-zone handling.

Example::

    >>> import tempfile; from pathlib import Path; from medassist.settings import Settings
    >>> from medassist.users import ensure_users_file
    >>> s = Settings(data_dir=Path(tempfile.mkdtemp()))
    >>> _ = ensure_users_file(s, rounds=4)
    >>> reg = SessionRegistry(s)
    >>> sid = reg.open("dr.martin", client="10.0.0.1")
    >>> reg.check(sid, "dr.martin").username
    'dr.martin'
    >>> reg.revoke(sid, "logout")
    True
    >>> reg.check(sid, "dr.martin")
    Traceback (most recent call last):
    ...
    medassist.sessions.SessionRejected: session revoked (logout)
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, delete, func, select, update

from medassist.db import engine_for, ensure_tables, is_postgres_url
from medassist.settings import Settings, get_settings
from medassist.users import UserRecord, UsersFileError, load_users, users_file_path

_meta = MetaData()
ui_sessions = Table(
    "ui_sessions",
    _meta,
    Column("sid", String(64), primary_key=True),
    Column("username", String(128), nullable=False, index=True),
    Column("role", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # UserRecord.fingerprint() at login
    Column("client", String(64)),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("revoked", Float),
    Column("revoked_reason", String(32)),
)
login_attempts = Table(
    "ui_login_attempts",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("username", String(128), nullable=False, index=True),
    Column("client", String(64), nullable=False, index=True),
)

#: revocation reasons (stored, logged; never shown as such to the user)
LOGOUT, EXPIRED, ACCOUNT_REMOVED, ACCOUNT_CHANGED, REVOKED_BY_ADMIN = (
    "logout", "expired", "account_removed", "account_changed", "admin")

#: rows of ended sessions are kept this long after their expiry (who was logged in when), then pruned
KEEP_ENDED_S = 30 * 24 * 3600


class SessionRejected(Exception):
    """The session named by a token may not be used; ``reason`` says why (for logs)."""

    def __init__(self, reason: str):
        super().__init__(f"session {reason}")
        self.reason = reason


class TooManyAttempts(Exception):
    """A login refused by the throttle; the message is French and says when to try again."""

    def __init__(self, retry_after_s: float, scope: str):
        self.retry_after_s = max(1.0, retry_after_s)
        self.scope = scope  # "account" or "address"
        super().__init__(throttle_message(self.minutes))

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after_s / 60))


def throttle_message(minutes: int, *, at_most: bool = False) -> str:
    """« Trop de tentatives, réessayez dans N minutes. » (``at_most``: « … N minutes au plus. »)."""
    unit = "minute" if minutes == 1 else "minutes"
    return f"Trop de tentatives, réessayez dans {minutes} {unit}{' au plus' if at_most else ''}."


@dataclass(frozen=True)
class SessionInfo:
    sid: str
    username: str
    role: str
    client: str | None
    created: float
    expires: float


_prepared: set[str] = set()


def _engine(settings: Settings):
    """The shared engine, with our tables; the data dir (private, SQLite files 0600) made once."""
    url = settings.effective_database_url
    if url not in _prepared:
        if not is_postgres_url(url):
            settings.ensure_dirs()
        _prepared.add(url)
    eng = engine_for(url)
    ensure_tables(eng, _meta)
    return eng


def _name_key(username: str | None) -> str:
    """The account name as :func:`medassist.users.authenticate` looks it up (stripped), bounded."""
    return (username or "").strip()[:128]


def _client_key(client: str | None) -> str:
    return (client or "inconnu")[:64]


class SessionRegistry:
    """Open, check and revoke UI sessions (one row per login)."""

    def __init__(self, settings: Settings | None = None, *, clock: Callable[[], float] = time.time):
        self.settings = settings or get_settings()
        self.clock = clock
        self.ttl_s = float(self.settings.session_ttl_hours) * 3600
        self._users_cache: tuple[bytes, dict[str, UserRecord]] | None = None
        self._lock = threading.Lock()

    @property
    def engine(self):
        return _engine(self.settings)

    # ---------------------------------------------------------------- the users file
    def _records(self) -> dict[str, UserRecord]:
        """The users file, parsed again only when its bytes change.

        Why the content rather than the modification time: a password reset keeps the file's size
        (bcrypt hashes all have 60 characters) and may fall within the same second as the previous
        read on file systems with coarse timestamps; reading a few kilobytes per request is cheap."""
        path = users_file_path(self.settings)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UsersFileError(f"Fichier des utilisateurs illisible : « {path} ».") from exc
        digest = hashlib.sha256(raw).digest()
        with self._lock:
            cached = self._users_cache
        if cached is not None and cached[0] == digest:
            return cached[1]
        records = load_users(path)
        with self._lock:
            self._users_cache = (digest, records)
        return records

    # ---------------------------------------------------------------- lifecycle
    def open(self, username: str, *, client: str | None = None) -> str:
        """A new session for an account that has just proved its password; returns its id."""
        rec = self._records().get(username)
        if rec is None:
            raise SessionRejected(ACCOUNT_REMOVED)
        now = self.clock()
        sid = secrets.token_urlsafe(32)
        with self.engine.begin() as cx:
            cx.execute(delete(ui_sessions).where(ui_sessions.c.expires < now - KEEP_ENDED_S))
            cx.execute(ui_sessions.insert().values(
                sid=sid, username=rec.username, role=rec.role.value, fingerprint=rec.fingerprint(),
                client=_client_key(client) if client else None, created=now, expires=now + self.ttl_s))
        return sid

    def check(self, sid: str | None, username: str) -> SessionInfo:
        """The session if it may be used now by ``username``, else :class:`SessionRejected`.

        A session whose account disappeared or changed is revoked on the spot (the reason is kept).
        An unreadable users file rejects without revoking: a half-saved edit must not log
        everybody out, but neither may it let anybody in."""
        if not sid:
            raise SessionRejected("missing")
        with self.engine.connect() as cx:
            row = cx.execute(select(ui_sessions).where(ui_sessions.c.sid == str(sid)[:64])).mappings().first()
        if row is None:
            raise SessionRejected("unknown")
        if row["revoked"] is not None:
            raise SessionRejected(f"revoked ({row['revoked_reason']})")
        if row["username"] != username:
            raise SessionRejected("user_mismatch")
        if self.clock() >= row["expires"]:
            raise SessionRejected(EXPIRED)
        try:
            rec = self._records().get(username)
        except UsersFileError as exc:
            raise SessionRejected("users_file_unreadable") from exc
        if rec is None or rec.fingerprint() != row["fingerprint"]:
            reason = ACCOUNT_REMOVED if rec is None else ACCOUNT_CHANGED
            self.revoke(sid, reason)
            raise SessionRejected(reason)
        return SessionInfo(sid=row["sid"], username=row["username"], role=row["role"], client=row["client"],
                           created=row["created"], expires=row["expires"])

    def revoke(self, sid: str | None, reason: str = LOGOUT) -> bool:
        """End one session; True if it was open."""
        if not sid:
            return False
        with self.engine.begin() as cx:
            res = cx.execute(update(ui_sessions)
                             .where(ui_sessions.c.sid == str(sid)[:64], ui_sessions.c.revoked.is_(None))
                             .values(revoked=self.clock(), revoked_reason=reason[:32]))
        return res.rowcount > 0

    def revoke_user(self, username: str, reason: str = REVOKED_BY_ADMIN) -> int:
        """End every open session of an account (e.g. a suspected theft); returns how many."""
        with self.engine.begin() as cx:
            res = cx.execute(update(ui_sessions)
                             .where(ui_sessions.c.username == username, ui_sessions.c.revoked.is_(None))
                             .values(revoked=self.clock(), revoked_reason=reason[:32]))
        return res.rowcount

    def active(self, username: str | None = None) -> list[SessionInfo]:
        """Sessions neither revoked nor expired (users-file changes are noticed at their next use)."""
        stmt = select(ui_sessions).where(ui_sessions.c.revoked.is_(None), ui_sessions.c.expires > self.clock())
        if username:
            stmt = stmt.where(ui_sessions.c.username == username)
        with self.engine.connect() as cx:
            rows = cx.execute(stmt.order_by(ui_sessions.c.created)).mappings().all()
        return [SessionInfo(sid=r["sid"], username=r["username"], role=r["role"], client=r["client"],
                            created=r["created"], expires=r["expires"]) for r in rows]


class LoginThrottle:
    """Failed-login counting per account name and per client address (sliding window)."""

    def __init__(self, settings: Settings | None = None, *, clock: Callable[[], float] = time.time):
        self.settings = settings or get_settings()
        self.clock = clock
        self.window_s = float(self.settings.login_window_minutes) * 60
        self.max_account = int(self.settings.login_max_failures)
        self.max_address = int(self.settings.login_max_failures_per_address)

    @property
    def engine(self):
        return _engine(self.settings)

    def attempt(self, username: str | None, client: str | None) -> None:
        """Count one attempt, or raise :class:`TooManyAttempts` (then the attempt is not counted:
        refusals do not extend the wait). Call :meth:`succeeded` when the password matched."""
        name, addr = _name_key(username), _client_key(client)
        now = self.clock()
        since = now - self.window_s
        with self.engine.begin() as cx:
            cx.execute(delete(login_attempts).where(login_attempts.c.at < since))
            inserted = cx.execute(login_attempts.insert().values(at=now, username=name, client=addr))
            new_id = inserted.inserted_primary_key[0]
        waits = []
        with self.engine.connect() as cx:
            for scope, column, key, limit in (("account", login_attempts.c.username, name, self.max_account),
                                              ("address", login_attempts.c.client, addr, self.max_address)):
                count = cx.execute(select(func.count()).select_from(login_attempts)
                                   .where(column == key, login_attempts.c.at >= since)).scalar_one()
                if count > limit:
                    times = cx.execute(select(login_attempts.c.at)
                                       .where(column == key, login_attempts.c.at >= since,
                                              login_attempts.c.id != new_id)
                                       .order_by(login_attempts.c.at)).scalars().all()
                    # the next attempt passes once at most limit - 1 earlier ones remain in the window
                    oldest_to_expire = times[max(0, len(times) - limit)]
                    waits.append((oldest_to_expire + self.window_s - now, scope))
        if waits:
            with self.engine.begin() as cx:
                cx.execute(delete(login_attempts).where(login_attempts.c.id == new_id))
            wait, scope = max(waits)
            raise TooManyAttempts(wait, scope)

    def succeeded(self, username: str | None) -> None:
        """The password matched: forget this account's failures (not the address's other names)."""
        with self.engine.begin() as cx:
            cx.execute(delete(login_attempts).where(login_attempts.c.username == _name_key(username)))

    def failures(self, *, username: str | None = None, client: str | None = None) -> int:
        """Attempts counted in the current window, for an account or an address."""
        since = self.clock() - self.window_s
        stmt = select(func.count()).select_from(login_attempts).where(login_attempts.c.at >= since)
        if username is not None:
            stmt = stmt.where(login_attempts.c.username == _name_key(username))
        if client is not None:
            stmt = stmt.where(login_attempts.c.client == _client_key(client))
        with self.engine.connect() as cx:
            return int(cx.execute(stmt).scalar_one())


_registries: dict[tuple, SessionRegistry] = {}
_throttles: dict[tuple, LoginThrottle] = {}


def registry(settings: Settings | None = None) -> SessionRegistry:
    """The process's registry for these settings (keeps the parsed users file between requests)."""
    s = settings or get_settings()
    key = (s.effective_database_url, str(users_file_path(s)), s.session_ttl_hours)
    if key not in _registries:
        _registries[key] = SessionRegistry(s)
    return _registries[key]


def throttle(settings: Settings | None = None) -> LoginThrottle:
    s = settings or get_settings()
    key = (s.effective_database_url, s.login_window_minutes, s.login_max_failures, s.login_max_failures_per_address)
    if key not in _throttles:
        _throttles[key] = LoginThrottle(s)
    return _throttles[key]


__all__ = [
    "ACCOUNT_CHANGED", "ACCOUNT_REMOVED", "EXPIRED", "LOGOUT", "REVOKED_BY_ADMIN", "LoginThrottle", "SessionInfo",
    "SessionRegistry", "SessionRejected", "TooManyAttempts", "registry", "throttle", "throttle_message",
]
