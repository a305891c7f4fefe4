"""客服消息 client: sends an answer later, when the Rasa turn took longer than WeChat's 5 seconds.

- access_token: POST {base}/cgi-bin/stable_token {"grant_type": "client_credential", "appid", "secret",
  "force_refresh": false} (getStableAccessToken)
  https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
- send: POST {base}/cgi-bin/message/custom/send?access_token=..
  https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html

Why the stable token: every call of the older getAccessToken (GET /cgi-bin/token) issues a new token and ends the
previous one five minutes later, so several Rasa instances of one official account ended each other's tokens. In
getStableAccessToken's normal mode every caller gets the same token while it is valid (WeChat renews it five minutes
before it expires), so the instances need no shared store for it. When WeChat rejects a token (40001/40014/42001)
the client asks again in normal mode (another instance, or another system, may have forced a new one); only if
WeChat hands back the very token it just rejected does it force a refresh (``force_refresh: true``, which ends the
token everywhere; WeChat allows it once per 30 s and 20 times a day, this client at most once per 30 s).

The token is cached until shortly before it expires; one thread refreshes it at a time. Blocking (requests):
call it from a worker thread (asyncio.to_thread).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any

import requests

logger = logging.getLogger(__name__)

TOKEN_ERRORS = {40001, 40014, 42001}  # invalid / malformed / expired access_token: refresh and retry
TIMEOUT = (3.05, 10.0)  # connect, read (seconds)
EXPIRY_MARGIN = 300  # refresh this many seconds before WeChat says the token expires
FORCE_REFRESH_INTERVAL = 30.0  # WeChat: forced refreshes at least 30 s apart (and 20 a day)


class DeliveryError(RuntimeError):
    """WeChat refused the call; the message says which errcode and what to check."""


def hash_openid(openid: str) -> str:
    """A short stable pseudonym for logs: raw OpenIDs never go to a log."""
    return hashlib.sha256(openid.encode("utf-8")).hexdigest()[:12]


class CustomerServiceClient:
    def __init__(
        self,
        api_base: str,
        app_id: str,
        app_secret: str,
        session: requests.Session | None = None,
        max_retries: int = 2,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self._session = session or requests.Session()
        self.max_retries = max_retries
        self.timeout = timeout
        self._lock = threading.Lock()
        self._token = ""
        self._expires_at = 0.0
        self._forced_at: float | None = None

    def access_token(self, rejected: str = "") -> str:
        """The cached token, fetched again when near expiry or when it is `rejected` (WeChat refused it just now);
        concurrent callers wait for one refresh."""
        with self._lock:
            if self._token and self._token != rejected and time.monotonic() < self._expires_at:
                return self._token
            data = self._stable_token(force=False)
            if rejected and data["access_token"] == rejected and self._may_force():
                logger.warning("wechat rejected the current stable access_token; forcing a new one")
                data = self._stable_token(force=True)
            self._token = str(data["access_token"])
            expires_in = int(data.get("expires_in", 7200))
            self._expires_at = time.monotonic() + max(expires_in - EXPIRY_MARGIN, min(60, expires_in // 2))
            return self._token

    def _may_force(self) -> bool:
        now = time.monotonic()
        if self._forced_at is not None and now - self._forced_at < FORCE_REFRESH_INTERVAL:
            return False
        self._forced_at = now
        return True

    def _stable_token(self, force: bool) -> dict[str, Any]:
        body = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret, "force_refresh": force}
        data = self._json(self._session.post(f"{self.api_base}/cgi-bin/stable_token", json=body, timeout=self.timeout))
        if "access_token" not in data:
            raise DeliveryError(
                f"getting access_token failed: errcode {data.get('errcode')} ({data.get('errmsg')}); "
                "check WECHAT_APPID / WECHAT_APPSECRET and the server IP whitelist (IP白名单)"
            )
        return data

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise DeliveryError(f"WeChat API answered HTTP {response.status_code}")
        data = response.json()
        if not isinstance(data, dict):
            raise DeliveryError("WeChat API answered something other than a JSON object")
        return data

    def send_text(self, openid: str, content: str) -> None:
        """One 客服消息 text; refreshes the token and retries (bounded) on 40001/40014/42001."""
        # UTF-8 JSON without \\u escapes: WeChat shows escaped Chinese literally.
        body = json.dumps({"touser": openid, "msgtype": "text", "text": {"content": content}}, ensure_ascii=False)
        rejected = ""
        for attempt in range(self.max_retries + 1):
            token = self.access_token(rejected)
            response = self._session.post(
                f"{self.api_base}/cgi-bin/message/custom/send",
                params={"access_token": token},
                data=body.encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self.timeout,
            )
            data = self._json(response)
            errcode = int(data.get("errcode", 0))
            if errcode == 0:
                return
            if errcode in TOKEN_ERRORS and attempt < self.max_retries:
                logger.info("wechat access_token rejected (errcode %s); refreshing", errcode)
                rejected = token
                continue
            raise DeliveryError(
                f"客服消息 to user {hash_openid(openid)} failed: errcode {errcode} ({data.get('errmsg')}); "
                "45015 means the resident wrote more than 48 hours ago, 45047 that the quota is used up"
            )
        raise DeliveryError("客服消息 failed after refreshing the access_token; check WECHAT_APPSECRET")
