"""客服消息 client: sends an answer later, when the Rasa turn took longer than WeChat's 5 seconds.

- access_token: GET {base}/cgi-bin/token?grant_type=client_credential&appid=..&secret=..
  https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html
- send: POST {base}/cgi-bin/message/custom/send?access_token=..
  https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html

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

    def access_token(self) -> str:
        """The cached token, fetched again when near expiry; concurrent callers wait for one refresh."""
        with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
            data = self._json(self._session.get(f"{self.api_base}/cgi-bin/token", params=params, timeout=self.timeout))
            if "access_token" not in data:
                raise DeliveryError(
                    f"getting access_token failed: errcode {data.get('errcode')} ({data.get('errmsg')}); "
                    "check WECHAT_APPID / WECHAT_APPSECRET and the server IP whitelist (IP白名单)"
                )
            self._token = str(data["access_token"])
            self._expires_at = time.monotonic() + max(int(data.get("expires_in", 7200)) - EXPIRY_MARGIN, 60)
            return self._token

    def _invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:  # another thread may already have refreshed it
                self._token, self._expires_at = "", 0.0

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
        for attempt in range(self.max_retries + 1):
            token = self.access_token()
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
                self._invalidate(token)
                continue
            raise DeliveryError(
                f"客服消息 to user {hash_openid(openid)} failed: errcode {errcode} ({data.get('errmsg')}); "
                "45015 means the resident wrote more than 48 hours ago, 45047 that the quota is used up"
            )
        raise DeliveryError("客服消息 failed after refreshing the access_token; check WECHAT_APPSECRET")
