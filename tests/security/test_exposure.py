"""Who can reach what (docs/security.md): Rasa's HTTP API needs the token; Rasa, the action server and the web app
listen on 127.0.0.1 only, started exactly as `make run` starts them; cookies are HttpOnly and SameSite, and Secure
behind a TLS proxy that the web app is configured to trust — and forged proxy headers are ignored otherwise."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.config import ROOT
from bot.serve import commands, environment, free_port, wait_until_ready
from tests.faults.stack import ADMIN_PASSWORD, ADMIN_USER, Stack

LISTEN = "0A"
LOOPBACK4 = "0100007F"
LOOPBACK6 = "00000000000000000000000001000000"
HTTPS_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.20"}


def listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on `port`, from /proc/net/tcp and tcp6 (hex, kernel byte order)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == LISTEN and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.parametrize("name", ["actions", "rasa", "web"])
def test_every_server_listens_on_localhost_only(stack: Stack, name: str) -> None:
    addresses = listening_addresses(stack.ports[name])
    assert addresses, f"{name} is not listening on {stack.ports[name]}"
    assert addresses <= {LOOPBACK4, LOOPBACK6}, addresses


def test_make_run_starts_rasa_with_the_token_on_localhost(model_path: Path) -> None:
    _, rasa, web = commands(model_path)
    assert rasa[rasa.index("--interface") + 1] == "127.0.0.1"
    assert "--enable-api" in rasa and "--auth-token" not in rasa  # `ps` shows arguments to every user
    assert Path(rasa[rasa.index("--auth-token-file") + 1]).read_text()  # the launcher passes it on to Rasa
    assert "--cors" not in rasa and "--jwt-secret" not in rasa
    assert "--host" not in web  # bot.web defaults to 127.0.0.1
    assert environment()["SANIC_HOST"] == "127.0.0.1"  # read by rasa-sdk


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/status"),
        ("GET", "/domain"),
        ("GET", "/conversations/someone/tracker"),
        ("POST", "/conversations/someone/tracker/events"),
        ("POST", "/conversations/someone/messages"),
        ("POST", "/conversations/someone/execute"),
        ("POST", "/model/parse"),
        ("PUT", "/model"),
        ("DELETE", "/model"),
        ("POST", "/model/train"),
    ],
)
def test_rasa_api_needs_the_token(stack: Stack, method: str, path: str) -> None:
    url = stack.rasa_url + path
    for params in ({}, {"token": "wrong-" + stack.token}, {"token": ""}):
        response = requests.request(method, url, params=params, json={}, timeout=15)
        assert response.status_code == 401, (path, params, response.status_code)


def test_the_token_opens_the_api(stack: Stack) -> None:
    assert requests.get(f"{stack.rasa_url}/status", params={"token": stack.token}, timeout=15).status_code == 200


def test_the_token_never_reaches_the_browser(stack: Stack) -> None:
    browser = requests.Session()
    said = browser.post(f"{stack.web_url}/api/message", json={"message": "你好"}, timeout=30)
    history = browser.get(f"{stack.web_url}/api/history", timeout=30)
    page = browser.get(stack.web_url + "/", timeout=30)
    for response in (said, history, page):
        assert stack.token not in response.text and stack.token not in str(response.headers)


def cookie_header(response: requests.Response, name: str) -> str:
    raw = response.raw.headers.getlist("Set-Cookie")
    found = [value for value in raw if value.startswith(name + "=")]
    assert found, raw
    return found[0]


def test_chat_cookie_flags(stack: Stack) -> None:
    plain = requests.post(f"{stack.web_url}/api/message", json={"message": "你好"}, timeout=30)
    cookie = cookie_header(plain, "zmd_chat")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    behind_tls = requests.post(
        f"{stack.web_url}/api/message", json={"message": "你好"}, headers=HTTPS_PROXY, timeout=30
    )
    cookie = cookie_header(behind_tls, "zmd_chat")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_console_cookies_are_secure_behind_tls(stack: Stack) -> None:
    form = requests.get(f"{stack.web_url}/admin/login", headers=HTTPS_PROXY, timeout=30)
    login_cookie = cookie_header(form, "zmd_admin_login")
    assert all(flag in login_cookie for flag in ("HttpOnly", "SameSite=Strict", "Secure"))
    csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    data = {"name": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf": csrf}
    # The cookie was issued Secure, so requests would not send it over http: pass it on as the proxy would.
    cookies = {"zmd_admin_login": login_cookie.split(";", 1)[0].split("=", 1)[1]}
    logged_in = requests.post(
        f"{stack.web_url}/admin/login",
        data=data,
        cookies=cookies,
        headers=HTTPS_PROXY,
        allow_redirects=False,
        timeout=30,
    )
    assert logged_in.status_code == 302, logged_in.text[:500]
    session_cookie = cookie_header(logged_in, "zmd_admin")
    assert all(flag in session_cookie for flag in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/admin"))


@pytest.fixture(scope="module")
def untrusting_web(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second web app, with no proxy configured: X-Forwarded-* headers come from anyone and are ignored."""
    port = free_port()
    env = {**stack.env, "WEB_PORT": str(port), "RATE_LIMIT_IP_MESSAGES": "5", "RATE_LIMIT_MESSAGES": "100"}
    env.pop("WEB_PROXIES_COUNT", None)
    env.pop("BOT_ADMIN_USER", None)
    env.pop("BOT_ADMIN_PASSWORD", None)
    log = tmp_path_factory.mktemp("untrusting-web") / "web.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "bot.web"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/healthz", process, 60, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_forged_proxy_headers_are_ignored_without_a_configured_proxy(untrusting_web: str) -> None:
    statuses = []
    for number in range(6):  # a new forged address and no cookie each time: still one client
        forged = {"X-Forwarded-For": f"192.0.2.{number}", "X-Forwarded-Proto": "https", "Forwarded": "for=192.0.2.9"}
        response = requests.post(f"{untrusting_web}/api/message", json={"message": "你好"}, headers=forged, timeout=30)
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert "Secure" not in cookie_header(response, "zmd_chat")
    assert statuses == [200] * 5 + [429]
