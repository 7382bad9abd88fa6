"""Server-side sessions and login throttling (medassist.sessions), without Chainlit.

The web-level proofs (a logged-out token gets 401, the 6th wrong password gets 429, websocket
events of a revoked session are refused) are in tests/test_auth_http.py.
"""

from __future__ import annotations

import os

import pytest
import yaml

from medassist import sessions
from medassist.settings import Settings
from medassist.users import ensure_users_file, hash_password, users_file_path


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(tmp_path):
    s = Settings(data_dir=tmp_path, database_url="", users_file=None)
    ensure_users_file(s, rounds=4)
    return s


def _edit_users(settings, change) -> None:
    path = users_file_path(settings)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["users"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _reason(reg, sid, name) -> str:
    with pytest.raises(sessions.SessionRejected) as err:
        reg.check(sid, name)
    return err.value.reason


# ----------------------------------------------------------------------------- registry
def test_open_check_and_logout(settings):
    reg = sessions.SessionRegistry(settings)
    sid = reg.open("dr.martin", client="10.1.2.3")
    info = reg.check(sid, "dr.martin")
    assert (info.username, info.role, info.client) == ("dr.martin", "clinician", "10.1.2.3")
    assert [s.sid for s in reg.active("dr.martin")] == [sid]
    assert reg.revoke(sid, sessions.LOGOUT) is True
    assert _reason(reg, sid, "dr.martin") == "revoked (logout)"
    assert reg.revoke(sid) is False  # already ended
    assert reg.active("dr.martin") == []


def test_unknown_missing_or_foreign_session_is_refused(settings):
    reg = sessions.SessionRegistry(settings)
    sid = reg.open("dr.martin")
    assert _reason(reg, None, "dr.martin") == "missing"
    assert _reason(reg, "forged-session-id", "dr.martin") == "unknown"
    # a session id copied into a token of another account is worthless
    assert _reason(reg, sid, "dr.petit") == "user_mismatch"


def test_session_expires_after_the_setting(settings):
    clock = Clock()
    reg = sessions.SessionRegistry(settings.model_copy(update={"session_ttl_hours": 12}), clock=clock)
    sid = reg.open("dr.martin")
    clock.now += 12 * 3600 - 1
    reg.check(sid, "dr.martin")
    clock.now += 2
    assert _reason(reg, sid, "dr.martin") == sessions.EXPIRED


def test_default_lifetime_is_twelve_hours(settings):
    assert Settings().session_ttl_hours == 12
    clock = Clock()
    reg = sessions.SessionRegistry(settings, clock=clock)
    info = reg.check(reg.open("dr.martin"), "dr.martin")
    assert info.expires - info.created == 12 * 3600


def test_removed_account_is_revoked_and_stays_revoked(settings):
    reg = sessions.SessionRegistry(settings)
    sid = reg.open("dr.petit")
    reg.check(sid, "dr.petit")
    saved = yaml.safe_load(users_file_path(settings).read_text(encoding="utf-8"))["users"]["dr.petit"]
    _edit_users(settings, lambda u: u.pop("dr.petit"))
    assert _reason(reg, sid, "dr.petit") == sessions.ACCOUNT_REMOVED
    # put back identical: the old session does not come back to life
    _edit_users(settings, lambda u: u.__setitem__("dr.petit", saved))
    assert _reason(reg, sid, "dr.petit") == "revoked (account_removed)"


@pytest.mark.parametrize("change", [
    pytest.param(lambda e: e.__setitem__("password_hash", hash_password("nouveau", rounds=4)), id="password"),
    pytest.param(lambda e: e.__setitem__("role", "coder"), id="role"),
    pytest.param(lambda e: e.__setitem__("patients", ["P001"]), id="patient-scope"),
])
def test_password_role_or_scope_change_revokes(settings, change):
    reg = sessions.SessionRegistry(settings)
    sid = reg.open("dr.petit")
    other = reg.open("dr.martin")
    _edit_users(settings, lambda u: change(u["dr.petit"]))
    assert _reason(reg, sid, "dr.petit") == sessions.ACCOUNT_CHANGED
    reg.check(other, "dr.martin")  # other accounts untouched


def test_display_name_change_keeps_the_session(settings):
    reg = sessions.SessionRegistry(settings)
    sid = reg.open("dr.petit")
    _edit_users(settings, lambda u: u["dr.petit"].__setitem__("display_name", "Dr Léa Petit-Durand"))
    assert reg.check(sid, "dr.petit").username == "dr.petit"


def test_password_change_of_same_length_within_the_same_second_is_seen(settings):
    """bcrypt hashes all have 60 characters: a cache keyed on size and mtime would miss it."""
    reg = sessions.SessionRegistry(settings)
    sid = reg.open("dr.martin")
    path = users_file_path(settings)
    st = path.stat()
    _edit_users(settings, lambda u: u["dr.martin"].__setitem__("password_hash", hash_password("autre", rounds=4)))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _reason(reg, sid, "dr.martin") == sessions.ACCOUNT_CHANGED


def test_unreadable_users_file_refuses_without_revoking(settings):
    reg = sessions.SessionRegistry(settings)
    sid = reg.open("dr.martin")
    path = users_file_path(settings)
    good = path.read_text(encoding="utf-8")
    path.write_text("users: [ceci n'est pas du YAML", encoding="utf-8")
    assert _reason(reg, sid, "dr.martin") == "users_file_unreadable"
    path.write_text(good, encoding="utf-8")
    reg.check(sid, "dr.martin")


def test_revoke_user_ends_every_session_of_that_account_only(settings):
    reg = sessions.SessionRegistry(settings)
    a, b, c = reg.open("dr.martin"), reg.open("dr.martin"), reg.open("dr.petit")
    assert reg.revoke_user("dr.martin") == 2
    assert _reason(reg, a, "dr.martin") == "revoked (admin)"
    assert _reason(reg, b, "dr.martin") == "revoked (admin)"
    reg.check(c, "dr.petit")


def test_open_refuses_an_account_absent_from_the_file(settings):
    with pytest.raises(sessions.SessionRejected):
        sessions.SessionRegistry(settings).open("personne")


# ----------------------------------------------------------------------------- throttle
def _throttle(settings, clock, **limits):
    return sessions.LoginThrottle(settings.model_copy(update=limits), clock=clock)


def test_sixth_attempt_after_five_failures_is_refused_until_the_window_passes(settings):
    clock = Clock()
    th = _throttle(settings, clock, login_max_failures=5, login_window_minutes=5)
    for _ in range(5):
        th.attempt("dr.martin", "10.0.0.1")  # each a failure: never followed by succeeded()
        clock.now += 10
    with pytest.raises(sessions.TooManyAttempts) as err:
        th.attempt("dr.martin", "10.0.0.1")
    # the oldest failure leaves the window 5 min after it happened, i.e. 250 s from now
    assert err.value.scope == "account"
    assert 249 <= err.value.retry_after_s <= 251
    assert str(err.value) == "Trop de tentatives, réessayez dans 5 minutes."
    # refusals are not counted: the wait does not grow while an attacker keeps trying
    clock.now += 100
    with pytest.raises(sessions.TooManyAttempts) as err:
        th.attempt("dr.martin", "10.0.0.1")
    assert 149 <= err.value.retry_after_s <= 151 and err.value.minutes == 3
    assert th.failures(username="dr.martin") == 5
    clock.now += 151
    th.attempt("dr.martin", "10.0.0.1")


def test_throttle_counts_the_name_as_authenticate_reads_it(settings):
    clock = Clock()
    th = _throttle(settings, clock, login_max_failures=2)
    th.attempt("dr.martin", "a")
    th.attempt(" dr.martin ", "b")
    with pytest.raises(sessions.TooManyAttempts):
        th.attempt("dr.martin\t", "c")


def test_success_forgets_the_account_failures(settings):
    clock = Clock()
    th = _throttle(settings, clock, login_max_failures=3)
    for _ in range(2):
        th.attempt("dr.martin", "10.0.0.1")
    th.attempt("dr.martin", "10.0.0.1")
    th.succeeded("dr.martin")
    for _ in range(3):
        th.attempt("dr.martin", "10.0.0.1")
    with pytest.raises(sessions.TooManyAttempts):
        th.attempt("dr.martin", "10.0.0.1")


def test_per_address_limit_stops_password_spraying(settings):
    clock = Clock()
    th = _throttle(settings, clock, login_max_failures=5, login_max_failures_per_address=4)
    for name in ("a1", "a2", "a3", "a4"):
        th.attempt(name, "10.9.9.9")
    with pytest.raises(sessions.TooManyAttempts) as err:
        th.attempt("a5", "10.9.9.9")
    assert err.value.scope == "address"
    th.attempt("a5", "10.9.9.10")  # another address is not concerned


def test_throttle_message_is_french_and_singular_for_one_minute():
    assert sessions.throttle_message(1) == "Trop de tentatives, réessayez dans 1 minute."
    assert sessions.throttle_message(5, at_most=True) == "Trop de tentatives, réessayez dans 5 minutes au plus."
    assert sessions.TooManyAttempts(20, "account").minutes == 1
    assert sessions.TooManyAttempts(61, "account").minutes == 2
