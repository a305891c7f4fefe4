"""WeChat channel fixtures: an independent WeChat-side client, a fake WeChat API, real Rasa servers with WECHAT_*.

The client signs and encrypts the way WeChat's servers do, written from the spec with hashlib and the
cryptography library, sharing no code with bot/channels.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import defusedxml.ElementTree as ET
import pytest
import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.config import ROOT
from bot.serve import actions_command, rasa_command
from kb.build import build
from tests.conftest import Processes, free_port

TOKEN = "zmd-test-token-" + secrets.token_hex(4)
APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "test-app-secret"
AES_KEY = base64.b64encode(secrets.token_bytes(32)).decode()[:43]  # 43 characters, as the console generates


# --- the WeChat side, from the spec ------------------------------------------------------------------------------


def wechat_sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's algorithm


def _key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def wechat_encrypt(plain: bytes, encoding_aes_key: str = AES_KEY, app_id: str = APP_ID) -> str:
    key = _key(encoding_aes_key)
    data = os.urandom(16) + struct.pack(">I", len(plain)) + plain + app_id.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def wechat_decrypt(encrypted: str, encoding_aes_key: str = AES_KEY) -> tuple[bytes, bytes]:
    """(message, app_id) from an Encrypt value."""
    key = _key(encoding_aes_key)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    data = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    data = data[: -data[-1]]
    length = struct.unpack(">I", data[16:20])[0]
    return data[20 : 20 + length], data[20 + length :]


def text_xml(openid: str, content: str, msg_id: str | None = None, create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[gh_zmd]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id or new_msg_id()}</MsgId></xml>"
    )


def event_xml(openid: str, event: str, key: str = "") -> str:
    return (
        f"<xml><ToUserName><![CDATA[gh_zmd]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
    )


def new_msg_id() -> str:
    return str(secrets.randbelow(10**18) + 10**18)


def new_openid() -> str:
    return "oZmd" + uuid.uuid4().hex[:24]


def _field(xml: str, name: str) -> str:
    """A field of a message we are about to send (a regex: hostile test bodies must not be parsed here)."""
    found = re.search(rf"<{name}>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</{name}>", xml)
    return found.group(1) if found else ""


@dataclass
class Reply:
    status: int
    body: str
    content: str = ""  # the text of the (decrypted) reply, "" for `success`
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class WeChatClient:
    """Posts to the webhook as WeChat does: plaintext (`raw`), compatible or safe (`aes`) mode."""

    url: str
    token: str = TOKEN
    aes_key: str = AES_KEY
    app_id: str = APP_ID

    def signed_params(self, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        return {"signature": wechat_sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}

    def verify(self, echostr: str, **overrides: str) -> requests.Response:
        params = {**self.signed_params(), "echostr": echostr, **overrides}
        return requests.get(self.url, params=params, timeout=10)

    def post(
        self,
        xml: str,
        mode: str = "aes",
        params: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Reply:
        params = dict(params or self.signed_params())
        openid = _field(xml, "FromUserName")
        params["openid"] = openid
        if mode == "raw":
            body = xml.encode()
        else:
            encrypted = wechat_encrypt(xml.encode(), self.aes_key, self.app_id)
            to_user = _field(xml, "ToUserName")
            if mode == "compat":  # 兼容模式: the plaintext fields and Encrypt side by side
                body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()
            else:
                body = (
                    f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
                ).encode()
            params["encrypt_type"] = "aes"
            params["msg_signature"] = wechat_sign(self.token, params["timestamp"], params["nonce"], encrypted)
        response = requests.post(self.url, params=params, data=body, timeout=timeout)
        return self.read(response, mode)

    def read(self, response: requests.Response, mode: str) -> Reply:
        reply = Reply(response.status_code, response.text)
        if response.status_code != 200 or response.text in ("", "success"):
            return reply
        root = ET.fromstring(response.content)
        if mode != "raw":
            encrypted = root.findtext("Encrypt") or ""
            expected = wechat_sign(
                self.token, root.findtext("TimeStamp") or "", root.findtext("Nonce") or "", encrypted
            )
            assert root.findtext("MsgSignature") == expected, "reply msg_signature does not verify"
            plain, app_id = wechat_decrypt(encrypted, self.aes_key)
            assert app_id == self.app_id.encode()
            root = ET.fromstring(plain)
        reply.fields = {child.tag: child.text or "" for child in root}
        reply.content = reply.fields.get("Content", "")
        return reply


# --- a fake api.weixin.qq.com -------------------------------------------------------------------------------------


class FakeWeChatAPI:
    """Records calls to the access-token APIs and /cgi-bin/message/custom/send, and keeps WeChat's token rules.

    - ``GET /cgi-bin/token`` (getAccessToken) issues a new token on every call; the previous one stays valid for
      `legacy_grace` seconds (WeChat: 5 minutes), then sends with it fail with errcode 40001.
    - ``POST /cgi-bin/stable_token`` (getStableAccessToken, JSON body): while the current stable token is valid,
      every caller gets that same token (with its remaining ``expires_in``); ``force_refresh: true`` issues a new
      one and the old one stops working at once. The two kinds of token are independent.
    - ``/cgi-bin/message/custom/send`` answers 40001 for a token that is not (or no longer) valid.
    """

    def __init__(self, legacy_grace: float = 300.0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.tokens_issued = 0
        self.force_refreshes = 0
        self.send_errors: list[int] = []  # errcodes to answer the next sends with
        self.legacy_grace = legacy_grace
        self.valid_until: dict[str, float] = {}  # token → monotonic time it stops working
        self.stable = ""  # the current stable token
        api = self

        def issue(lifetime: float = 7200.0) -> str:
            api.tokens_issued += 1
            token = f"ACCESS-{api.tokens_issued}"
            api.valid_until[token] = time.monotonic() + lifetime
            return token

        def valid(token: str) -> bool:
            return api.valid_until.get(token, 0.0) > time.monotonic()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output free of the fake API's access log."""

            def _json(self, data: dict[str, Any]) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with api.lock:
                    api.calls.append({"path": url.path, "query": query, "method": "GET"})
                    if url.path == "/cgi-bin/token" and query.get("secret") == APP_SECRET:
                        for token in [t for t in api.valid_until if t != api.stable]:  # earlier legacy tokens
                            api.valid_until[token] = min(api.valid_until[token], time.monotonic() + api.legacy_grace)
                        self._json({"access_token": issue(), "expires_in": 7200})
                    else:
                        self._json({"errcode": 40125, "errmsg": "invalid appsecret"})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with api.lock:
                    body = json.loads(raw)
                    api.calls.append({"path": url.path, "query": query, "json": body, "raw": raw, "method": "POST"})
                    if url.path == "/cgi-bin/stable_token":
                        self._stable_token(body)
                        return
                    errcode = api.send_errors.pop(0) if api.send_errors else 0
                    if errcode == 0 and not valid(query.get("access_token", "")):
                        errcode = 40001
                self._json({"errcode": errcode, "errmsg": "ok" if errcode == 0 else "error"})

            def _stable_token(self, body: dict[str, Any]) -> None:
                if body.get("grant_type") != "client_credential" or body.get("secret") != APP_SECRET:
                    self._json({"errcode": 40125, "errmsg": "invalid appsecret"})
                    return
                if body.get("force_refresh") is True or not valid(api.stable):
                    if body.get("force_refresh") is True:
                        api.force_refreshes += 1
                    api.valid_until.pop(api.stable, None)
                    api.stable = issue()
                left = int(api.valid_until[api.stable] - time.monotonic())
                self._json({"access_token": api.stable, "expires_in": left})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def sends(self, openid: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                c
                for c in self.calls
                if c["path"] == "/cgi-bin/message/custom/send" and (openid is None or c["json"]["touser"] == openid)
            ]

    def wait_for_sends(self, openid: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sends = self.sends(openid)
            if len(sends) >= count:
                return sends
            time.sleep(0.2)
        return self.sends(openid)


@pytest.fixture(scope="session")
def fake_api() -> Iterator[FakeWeChatAPI]:
    api = FakeWeChatAPI()
    api.thread.start()
    yield api
    api.server.shutdown()


@pytest.fixture
def fresh_api() -> Iterator[FakeWeChatAPI]:
    """A fake API of one's own (for the delivery client's unit tests)."""
    api = FakeWeChatAPI()
    api.thread.start()
    yield api
    api.server.shutdown()


# --- real servers -------------------------------------------------------------------------------------------------


@dataclass
class WeChatServers:
    rasa_url: str
    token: str  # Rasa's HTTP API token

    @property
    def webhook(self) -> str:
        return f"{self.rasa_url}/webhooks/wechat/webhook"

    def client(self) -> WeChatClient:
        return WeChatClient(self.webhook)

    def user_turns(self, sender: str) -> list[str]:
        """The texts of the user events in Rasa's tracker for `sender`."""
        response = requests.get(
            f"{self.rasa_url}/conversations/{sender}/tracker", params={"token": self.token}, timeout=10
        )
        assert response.status_code == 200, response.text
        return [event.get("text", "") for event in response.json()["events"] if event["event"] == "user"]


@pytest.fixture(scope="session")
def _wechat_stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory, fake_api: FakeWeChatAPI) -> Iterator[Any]:
    """One action server and a factory for Rasa servers with given WECHAT_* settings (started on first use)."""
    work = tmp_path_factory.mktemp("wechat-servers")
    database_url = f"sqlite:///{work / 'assistant.sqlite3'}"
    build(database_url)
    action_port = free_port()
    endpoints = work / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n')
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_") and k != "REDIS_URL"}
    base_env.update({"DATABASE_URL": database_url, "SANIC_HOST": "127.0.0.1"})
    processes = Processes(work, base_env)
    processes.start("actions", actions_command(action_port))
    started: dict[str, WeChatServers] = {}

    def rasa(name: str, wechat_env: dict[str, str]) -> WeChatServers:
        if name in started:
            return started[name]
        if not started:
            processes.wait_for("actions", f"http://127.0.0.1:{action_port}/health", 60)
        port, token = free_port(), "rasa-" + secrets.token_hex(8)
        command = rasa_command(model_path, port, token, endpoints, ROOT / "credentials.yml")
        processes.start(f"rasa-{name}", command, {**base_env, **wechat_env})
        processes.wait_for(f"rasa-{name}", f"http://127.0.0.1:{port}/status?token={token}", 180)
        started[name] = WeChatServers(f"http://127.0.0.1:{port}", token)
        return started[name]

    try:
        yield rasa
    finally:
        processes.stop()
        shutil.copytree(work, ROOT / "var" / "test-wechat-servers", dirs_exist_ok=True)


@pytest.fixture(scope="session")
def wechat(_wechat_stack: Any, fake_api: FakeWeChatAPI) -> WeChatServers:
    """Rasa in safe mode (EncodingAESKey set), 客服消息 enabled against the fake API.

    The reply budget is raised from 4 s so that passive answers stay passive on a busy 2-core test machine;
    `slow_wechat` covers the other side of the budget.
    """
    env = {
        "WECHAT_REPLY_TIMEOUT": "15",
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APPID": APP_ID,
        "WECHAT_AES_KEY": AES_KEY,
        "WECHAT_APPSECRET": APP_SECRET,
        "WECHAT_API_BASE": fake_api.base,
    }
    servers: WeChatServers = _wechat_stack("safe", env)
    return servers


@pytest.fixture(scope="session")
def slow_wechat(_wechat_stack: Any, fake_api: FakeWeChatAPI) -> WeChatServers:
    """Rasa in plaintext mode whose reply budget (WECHAT_REPLY_TIMEOUT) no turn can meet: every answer goes late."""
    env = {
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APPID": APP_ID,
        "WECHAT_APPSECRET": APP_SECRET,
        "WECHAT_API_BASE": fake_api.base,
        "WECHAT_REPLY_TIMEOUT": "0.001",
    }
    servers: WeChatServers = _wechat_stack("slow", env)
    return servers
