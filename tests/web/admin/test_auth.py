"""Console log-in: every route guarded, passwords, lock-out, CSRF, sessions, accounts from the CLI and env."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from sqlalchemy import update

from bot.config import ROOT
from bot.web.admin.auth import SESSION_COOKIE, ensure_admin_from_env
from bot.web.app import create_app
from kb import accounts
from kb.accounts import ConsoleSession
from tests.web.admin.conftest import ADMIN_PASSWORD, ADMIN_USER, Console
from tests.web.conftest import client_from, fresh_address

SAMPLE_PARAMS = {"number": "JG-20260101-0001", "key": "0123456789abcdef"}
PUBLIC = {"login_form", "login"}


def admin_routes() -> list[tuple[str, str]]:
    """(method, path) of every console route in the app's router, parameters filled in."""
    app = create_app("http://127.0.0.1:9", "token", "x" * 32)
    found = []
    for route in app.router.routes:
        if not route.path.startswith("admin") or route.name.rsplit(".", 1)[-1] in PUBLIC:
            continue
        path = "/" + re.sub(r"<(\w+)(:[^>]*)?>", lambda m: SAMPLE_PARAMS[m.group(1)], route.path)
        found.extend((method, path) for method in sorted(route.methods) if method != "HEAD")
    return found


def test_the_router_has_the_console_routes() -> None:
    routes = set(admin_routes())
    assert {("GET", "/admin"), ("GET", "/admin/tickets"), ("POST", "/admin/logout")} <= routes
    assert ("POST", "/admin/tickets/JG-20260101-0001/status") in routes
    assert ("GET", "/admin/api/tickets/JG-20260101-0001") in routes


@pytest.mark.parametrize("cookie", [None, "forged-token", ""])
@pytest.mark.parametrize(("method", "path"), admin_routes())
def test_every_console_route_needs_a_login(console: Console, method: str, path: str, cookie: str | None) -> None:
    cookies = {SESSION_COOKIE: cookie} if cookie is not None else None
    response = requests.request(method, console.url + path, cookies=cookies, allow_redirects=False, timeout=15)
    if path.startswith("/admin/api/"):
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "login_required"
    else:
        assert response.status_code == 302, response.text
        assert response.headers["Location"] == "/admin/login"


def test_login_page_is_a_chinese_form(console: Console) -> None:
    response = requests.get(f"{console.url}/admin/login", timeout=15)
    assert response.status_code == 200
    assert "用户名" in response.text and "密码" in response.text and 'name="csrf"' in response.text


def test_login_sets_a_strict_httponly_session_cookie(console: Console) -> None:
    client = requests.Session()
    response = console.post_login(client, ADMIN_USER, ADMIN_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    set_cookie = [c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE + "=")]
    assert len(set_cookie) == 1, response.headers
    assert "HttpOnly" in set_cookie[0] and "SameSite=Strict" in set_cookie[0] and "Path=/admin" in set_cookie[0]
    assert "Secure" not in set_cookie[0]  # plain http here; https requests get Secure
    home = client.get(f"{console.url}/admin/", timeout=15)
    assert home.status_code == 200 and f"{ADMIN_USER}（主管）" in home.text and "/admin/tickets" in home.text


BAD_LOGIN = "用户名或密码不正确"
ALERT = re.compile(r'<p class="msg msg-error" role="alert">([^<]*)</p>')


def alert_of(response: requests.Response) -> str:
    match = ALERT.search(response.text)
    assert match, response.text[:2000]
    return match.group(1)


@pytest.mark.parametrize("who", ["wrong-password", "unknown-user"])
def test_a_wrong_login_is_refused(console: Console, who: str) -> None:
    name = console.user() if who == "wrong-password" else "nobody-" + os.urandom(3).hex()
    client = client_from(fresh_address())
    response = console.post_login(client, name, "not-the-password")
    assert response.status_code == 401
    assert BAD_LOGIN in response.text
    assert SESSION_COOKIE not in client.cookies
    assert client.get(f"{console.url}/admin/", allow_redirects=False, timeout=15).status_code == 302


def test_wrong_passwords_from_anyone_never_lock_the_supervisor_out(console: Console) -> None:
    """The old lock: five anonymous wrong passwords locked the account for 15 minutes, for everyone."""
    attacker = client_from(fresh_address())
    answers = [console.post_login(attacker, ADMIN_USER, f"wrong-{i}") for i in range(12)]
    assert [a.status_code for a in answers] == [401] * 12
    assert {alert_of(a) for a in answers} == {alert_of(answers[0])} and BAD_LOGIN in alert_of(answers[0])
    supervisor = client_from(fresh_address())  # at the same time, from the supervisor's own computer
    assert console.post_login(supervisor, ADMIN_USER, ADMIN_PASSWORD).status_code == 302
    assert supervisor.get(f"{console.url}/admin/", allow_redirects=False, timeout=15).status_code == 200
    user = accounts.get_user(ADMIN_USER, url=console.database_url)
    assert user is not None and user.locked_until is None  # no account lock at all


def test_wrong_password_unknown_user_and_throttled_address_get_the_same_answer(console: Console) -> None:
    from kb.login_throttle import address_key, set_wait_until, state_of

    address, name = fresh_address(), console.user(password="right-password-1")
    client = client_from(address)
    wrong = [console.post_login(client, name, f"wrong-{i}") for i in range(3)]
    unknown = [console.post_login(client, "nobody-" + os.urandom(3).hex(), "wrong-password") for _ in range(2)]
    state = state_of(address_key(address), url=console.database_url)  # five failures from this address
    assert state.failures == 5 and state.wait_until is not None
    assert timedelta(0) < state.wait_until - accounts.utcnow() <= timedelta(seconds=1)  # the first, short wait
    # As after many more failures: this address must wait ten minutes; even the right password gets the same answer.
    set_wait_until(address_key(address), accounts.utcnow() + timedelta(minutes=10), url=console.database_url)
    throttled = console.post_login(client, name, "right-password-1")
    answers = [*wrong, *unknown, throttled]
    assert [a.status_code for a in answers] == [401] * 6
    assert {alert_of(a) for a in answers} == {alert_of(wrong[0])}
    assert SESSION_COOKIE not in client.cookies
    assert console.post_login(client_from(fresh_address()), name, "right-password-1").status_code == 302
    set_wait_until(address_key(address), accounts.utcnow(), url=console.database_url)  # the wait is over
    assert console.post_login(client, name, "right-password-1").status_code == 302
    assert state_of(address_key(address), url=console.database_url).failures == 0  # a success starts afresh


def test_a_success_resets_the_failure_count(console: Console) -> None:
    name, address = console.user(password="right-password-1"), fresh_address()
    for i in range(4):
        assert console.post_login(client_from(address), name, f"wrong-{i}").status_code == 401
    assert console.post_login(client_from(address), name, "right-password-1").status_code == 302
    for i in range(4):
        assert console.post_login(client_from(fresh_address()), name, f"wrong-{i}").status_code == 401
    for i in range(4):  # without the reset, the fifth failure from this address would start a wait
        assert console.post_login(client_from(address), name, f"wrong-{i}").status_code == 401
    assert console.post_login(client_from(address), name, "right-password-1").status_code == 302


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_a_post_without_the_session_csrf_token_is_refused(console: Console, admin: requests.Session, token) -> None:
    ticket = console.ticket()
    data = {"status": "处理中", "note": "已派人", "expected": "受理"}
    if token is not None:
        data["csrf"] = token
    response = admin.post(f"{console.url}/admin/tickets/{ticket.number}/status", data=data, timeout=15)
    assert response.status_code == 403 and "CSRF" in response.text
    logout = admin.post(f"{console.url}/admin/logout", data={"csrf": token or ""}, allow_redirects=False, timeout=15)
    assert logout.status_code == 403
    from kb.query import get_ticket

    assert get_ticket(ticket.number, url=console.database_url).status == "受理"
    assert admin.get(f"{console.url}/admin/", allow_redirects=False, timeout=15).status_code == 200


def test_another_sessions_csrf_token_is_refused(console: Console, admin: requests.Session) -> None:
    other = console.csrf_of(console.logged_in())
    response = admin.post(f"{console.url}/admin/logout", data={"csrf": other}, allow_redirects=False, timeout=15)
    assert response.status_code == 403


def test_login_needs_the_forms_csrf_token(console: Console) -> None:
    client = requests.Session()
    console.login_form(client)
    data = {"name": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf": "made-up"}
    response = client.post(f"{console.url}/admin/login", data=data, allow_redirects=False, timeout=15)
    assert response.status_code == 403 and SESSION_COOKIE not in client.cookies


def test_logout_ends_the_session(console: Console, admin: requests.Session) -> None:
    token = admin.cookies[SESSION_COOKIE]
    csrf = console.csrf_of(admin)
    response = admin.post(f"{console.url}/admin/logout", data={"csrf": csrf}, allow_redirects=False, timeout=15)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login"
    again = requests.get(f"{console.url}/admin/", cookies={SESSION_COOKIE: token}, allow_redirects=False, timeout=15)
    assert again.status_code == 302


def test_a_session_expires_after_8_idle_hours(console: Console, admin: requests.Session) -> None:
    assert admin.get(f"{console.url}/admin/", allow_redirects=False, timeout=15).status_code == 200
    with accounts.db(console.database_url) as session, session.begin():
        session.execute(update(ConsoleSession).values(last_seen=accounts.utcnow() - timedelta(hours=8, minutes=1)))
    assert admin.get(f"{console.url}/admin/", allow_redirects=False, timeout=15).status_code == 302


@pytest.mark.parametrize(
    ("age", "alive"), [(timedelta(hours=11, minutes=59), True), (timedelta(hours=12, minutes=1), False)]
)
def test_a_session_ends_12_hours_after_the_login_however_busy(console: Console, age: timedelta, alive: bool) -> None:
    client = console.logged_in()
    token = accounts._token_hash(client.cookies[SESSION_COOKIE])
    with accounts.db(console.database_url) as session, session.begin():  # used a minute ago, logged in `age` ago
        row = session.get(ConsoleSession, token)
        row.created_at, row.last_seen = accounts.utcnow() - age, accounts.utcnow() - timedelta(minutes=1)
    response = client.get(f"{console.url}/admin/", allow_redirects=False, timeout=15)
    assert response.status_code == (200 if alive else 302)
    with accounts.db(console.database_url) as session:
        assert (session.get(ConsoleSession, token) is not None) == alive  # an expired session is deleted


def test_the_session_lifetime_is_configurable(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    accounts.save_user("zhao", "staff", "zhao-password-1", url=url)
    account = accounts.authenticate("zhao", "zhao-password-1", "10.0.0.1", url=url).account
    assert account is not None
    start = accounts.utcnow()
    login = accounts.start_session(account, url=url, now=start)
    monkeypatch.setenv("ADMIN_SESSION_MAX_HOURS", "1")
    for minutes in (20, 40, 59):  # busy all the time: never idle
        assert accounts.resume_session(login.token, url=url, now=start + timedelta(minutes=minutes)) is not None
    assert accounts.resume_session(login.token, url=url, now=start + timedelta(minutes=61)) is None
    assert accounts.resume_session(login.token, url=url, now=start + timedelta(minutes=62)) is None  # deleted
    monkeypatch.delenv("ADMIN_SESSION_MAX_HOURS")
    assert accounts.session_max_age() == timedelta(hours=12)


def test_a_new_password_from_the_command_line_ends_every_session_of_that_account(console: Console) -> None:
    name = console.user(password="old-password-1")
    phone, laptop = console.logged_in(name, "old-password-1"), console.logged_in(name, "old-password-1")
    chief = console.logged_in()
    done = run_cli(console.database_url, name, "--role", "staff", stdin="new-password-1\n")
    assert done.returncode == 0, done.stderr
    for client in (phone, laptop):
        assert client.get(f"{console.url}/admin/", allow_redirects=False, timeout=15).status_code == 302
    assert chief.get(f"{console.url}/admin/", allow_redirects=False, timeout=15).status_code == 200  # not hers
    user = accounts.get_user(name, url=console.database_url)
    with accounts.db(console.database_url) as session:
        assert session.query(ConsoleSession).filter_by(user_id=user.id).count() == 0
    assert console.post_login(requests.Session(), name, "old-password-1").status_code == 401
    console.logged_in(name, "new-password-1")


def test_saving_the_same_password_again_keeps_the_sessions(console: Console) -> None:
    """BOT_ADMIN_PASSWORD is saved at every start of the web app: that must not log the supervisor out."""
    name = console.user(password="same-password-1")
    client = console.logged_in(name, "same-password-1")
    assert accounts.save_user(name, "supervisor", "same-password-1", url=console.database_url) is False
    assert client.get(f"{console.url}/admin/", allow_redirects=False, timeout=15).status_code == 200


def test_a_new_bot_admin_password_ends_the_supervisors_sessions(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BOT_ADMIN_USER", "zhang")
    monkeypatch.setenv("BOT_ADMIN_PASSWORD", "first-password")
    ensure_admin_from_env()
    account = accounts.authenticate("zhang", "first-password", "10.0.0.1", url=url).account
    assert account is not None
    login = accounts.start_session(account, url=url)
    ensure_admin_from_env()  # a restart with the same password
    assert accounts.resume_session(login.token, url=url) is not None
    monkeypatch.setenv("BOT_ADMIN_PASSWORD", "second-password")
    ensure_admin_from_env()  # a restart with a new one
    assert accounts.resume_session(login.token, url=url) is None


def test_only_scrypt_hashes_are_stored(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    accounts.save_user("a1", "staff", "same-password", url=url)
    accounts.save_user("a2", "staff", "same-password", url=url)
    hashes = [accounts.get_user(name, url=url).password_hash for name in ("a1", "a2")]
    assert all(h.startswith("scrypt$16384$8$1$") and "same-password" not in h for h in hashes)
    assert hashes[0] != hashes[1]  # random salt
    assert accounts.verify_password("same-password", hashes[0])
    assert not accounts.verify_password("same-passwore", hashes[0])
    assert b"same-password" not in (tmp_path / "db.sqlite3").read_bytes()


def run_cli(url: str, *args: str, stdin: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, "-m", "bot", "user", "add", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_user_add_from_the_command_line(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    first = run_cli(url, "wang", "--role", "supervisor", stdin="first-password\n")
    assert first.returncode == 0, first.stderr
    assert "created supervisor wang" in first.stdout
    user = accounts.get_user("wang", url=url)
    assert user is not None and user.role == "supervisor"
    assert accounts.verify_password("first-password", user.password_hash)
    second = run_cli(url, "wang", "--role", "staff", stdin="second-password\n")
    assert second.returncode == 0 and "updated staff wang" in second.stdout
    user = accounts.get_user("wang", url=url)
    assert user.role == "staff" and accounts.verify_password("second-password", user.password_hash)
    short = run_cli(url, "li", "--role", "staff", stdin="short\n")
    assert short.returncode == 2 and "至少" in short.stderr and accounts.get_user("li", url=url) is None
    assert run_cli(url, "li", "--role", "boss", stdin="long-enough-1\n").returncode == 2


def test_bot_admin_env_creates_then_updates_a_supervisor(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BOT_ADMIN_USER", "zhang")
    monkeypatch.setenv("BOT_ADMIN_PASSWORD", "first-password")
    ensure_admin_from_env()
    user = accounts.get_user("zhang", url=url)
    assert user is not None and user.role == "supervisor"
    assert accounts.verify_password("first-password", user.password_hash)
    accounts.save_user("zhang", "staff", "other-password", url=url)
    monkeypatch.setenv("BOT_ADMIN_PASSWORD", "second-password")
    ensure_admin_from_env()
    user = accounts.get_user("zhang", url=url)
    assert user.role == "supervisor" and accounts.verify_password("second-password", user.password_hash)
    assert not accounts.verify_password("first-password", user.password_hash)
    monkeypatch.delenv("BOT_ADMIN_PASSWORD")
    with pytest.raises(accounts.AccountError):
        ensure_admin_from_env()


def test_the_app_created_the_env_supervisor_at_start(console: Console) -> None:
    user = accounts.get_user(ADMIN_USER, url=console.database_url)
    assert user is not None and user.role == "supervisor"
    assert accounts.verify_password(ADMIN_PASSWORD, user.password_hash)


def test_console_pages_can_never_be_framed(console: Console) -> None:
    response = requests.get(f"{console.url}/admin/login", timeout=15)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
