"""The residents' chat page and its small JSON API, in front of Rasa's REST channel and tracker API.

The browser talks only to this app; Rasa's API token never leaves the server. Each browser's conversation id is
issued and signed here (``bot.web.sessions``), so a resident can read and rate only their own conversation.

- ``GET /``                 the page (``static/index.html``; ``/static/`` holds its CSS and JS)
- ``POST /api/message``     ``{"message": "..."}`` → ``{"messages": [{"text", "buttons"}]}``
- ``GET /api/history``      ``{"messages": [{"role", "text", "buttons", "index"}]}`` from Rasa's tracker
- ``POST /api/feedback``    ``{"rating": "helpful"|"not_helpful", "message_index": n}`` → a ``feedback`` slot event;
  one per answer per conversation (a second one is refused with 409 ``already_rated``: ``bot.web.ratings``)
- ``GET /healthz``

All three API routes are rate-limited like messages: RATE_LIMIT_MESSAGES per window per conversation and
RATE_LIMIT_IP_MESSAGES per client address, each route with its own counters (429 ``rate_limited``).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import time
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import quote

import aiohttp
import yaml
from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse, file
from sanic.response import json as sanic_json
from sqlalchemy.exc import SQLAlchemyError

from bot.config import ROOT, limit_settings, web_settings
from bot.limits import RateLimiter
from bot.web import ratings
from bot.web.sessions import COOKIE_MAX_AGE, COOKIE_NAME, Session, SessionSigner

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_MESSAGE_CHARS = 2000
RATINGS = ("helpful", "not_helpful")
MESSAGE_TIMEOUT = aiohttp.ClientTimeout(total=30)
TRACKER_TIMEOUT = aiohttp.ClientTimeout(total=15)

# What the page says when something goes wrong (the bot's own answers come from the KB and domain.yml).
ERRORS: Dict[str, str] = {
    "empty": "请先输入您想问的问题，再点“发送”。",
    "too_long": f"您的消息有点长了，请控制在{MAX_MESSAGE_CHARS}字以内，可以分几次发送。",
    "bad_request": "抱歉，这次请求没有看懂，请刷新页面后再试一次。",
    "bad_rating": "抱歉，评价没有提交成功，请刷新页面后再试一次。",
    "no_answer": "没有找到您要评价的这条回答，请刷新页面后再试一次。",
    "already_rated": "您已经评价过这条回答了，谢谢！",
    "too_large": "您发送的内容太多了，请精简后再发送。",
    "not_found": "抱歉，没有找到这个页面。",
    "method": "抱歉，不支持这样访问。",
    "rate_limited": "您发送得太快了，请稍后再试。",  # utter_rate_limited in domain.yml wins
}
THANKS = "谢谢您的反馈！"
# Used only if domain.yml cannot be read; the same sentence as utter_service_unavailable there.
UNAVAILABLE_FALLBACK = "抱歉，系统暂时出了点问题，请稍后再试；着急的话请拨打12345政务服务便民热线。"

_app_numbers = itertools.count(1)


@lru_cache(maxsize=8)
def domain_text(name: str, fallback: str) -> str:
    """The first text of response `name` in domain.yml, or `fallback` if it cannot be read."""
    try:
        domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
        return str(domain["responses"][name][0]["text"])
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError) as error:
        logger.warning("domain.yml has no usable %s (%s); using the built-in text", name, error)
        return fallback


def unavailable_message() -> str:
    """`utter_service_unavailable` from domain.yml: what to say (with the 12345 hotline) when Rasa is down."""
    return domain_text("utter_service_unavailable", UNAVAILABLE_FALLBACK)


def rate_limited_message() -> str:
    return domain_text("utter_rate_limited", ERRORS["rate_limited"])


class RasaUnavailable(Exception):
    """Rasa did not answer (down, timed out, or replied with an error status)."""


class RateLimited(Exception):
    """Too many messages from one conversation or one client address (here or in Rasa's REST channel)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after} s")
        self.retry_after = retry_after


class StoreUnavailable(Exception):
    """The database that keeps the one-rating-per-answer claims did not answer."""


async def check_limits(request: Request, session: Session, limiters: tuple[RateLimiter, RateLimiter]) -> None:
    """Count the request per client address and (for a known conversation) per conversation; raise when over."""
    per_session, per_address = limiters
    decisions = [await per_address.check(client_address(request))]
    if not session.new:
        decisions.append(await per_session.check(session.id))
    for decision in decisions:
        if not decision.allowed:
            raise RateLimited(decision.retry_after)


def already_rated(events: List[Dict[str, Any]], message_index: int) -> bool:
    """A ``feedback`` slot event for this answer is already in the conversation (e.g. from before the claims)."""
    for event in events:
        value = event.get("value") if event.get("event") == "slot" and event.get("name") == "feedback" else None
        if isinstance(value, dict) and value.get("message_index") == message_index:
            return True
    return False


async def claim_rating(session_id: str, message_index: int, rating: str) -> bool:
    call = functools.partial(ratings.claim, session_id, message_index, rating)
    try:
        return await asyncio.get_running_loop().run_in_executor(None, call)
    except SQLAlchemyError as error:
        raise StoreUnavailable(type(error).__name__) from error


class RasaClient:
    """The three Rasa HTTP calls the page needs; the token goes only to Rasa."""

    def __init__(self, base_url: str, token: str, session: aiohttp.ClientSession) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._session = session

    async def send(self, sender: str, message: str) -> List[Dict[str, Any]]:
        body = {"sender": sender, "message": message}
        replies = await self._request("POST", "/webhooks/rest/webhook", body, MESSAGE_TIMEOUT, auth=False)
        return [reply for reply in replies if isinstance(reply, dict)] if isinstance(replies, list) else []

    async def events(self, sender: str) -> List[Dict[str, Any]]:
        tracker = await self._request("GET", f"/conversations/{quote(sender, safe='')}/tracker", None, TRACKER_TIMEOUT)
        events = tracker.get("events") if isinstance(tracker, dict) else None
        return [event for event in events or [] if isinstance(event, dict)]

    async def append(self, sender: str, event: Dict[str, Any]) -> None:
        path = f"/conversations/{quote(sender, safe='')}/tracker/events"
        await self._request("POST", path, event, TRACKER_TIMEOUT)

    async def _request(
        self, method: str, path: str, body: Dict[str, Any] | None, timeout: aiohttp.ClientTimeout, auth: bool = True
    ) -> Any:
        params = {"token": self._token} if auth else None
        try:
            async with self._session.request(
                method, self._base_url + path, json=body, params=params, timeout=timeout
            ) as response:
                if response.status == 429:
                    raise RateLimited(int(response.headers.get("Retry-After", "1") or 1))
                if response.status != 200:
                    raise RasaUnavailable(f"{method} {path}: HTTP {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            # The message names the path only: the URL's query string carries the token.
            raise RasaUnavailable(f"{method} {path}: {type(error).__name__}") from error


def _buttons(raw: Any) -> List[Dict[str, str]]:
    if not isinstance(raw, list):
        return []
    return [
        {"title": str(button.get("title") or button.get("payload")), "payload": str(button.get("payload") or "")}
        for button in raw
        if isinstance(button, dict) and (button.get("title") or button.get("payload"))
    ]


def reply_messages(replies: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Rasa REST replies → what the page shows: text and quick-reply buttons (nothing else is sent)."""
    messages = [{"text": str(reply.get("text") or ""), "buttons": _buttons(reply.get("buttons"))} for reply in replies]
    return [message for message in messages if message["text"] or message["buttons"]]


def conversation(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Tracker events → the user and bot messages so far; a tapped button shows its title, not its payload."""
    messages: List[Dict[str, Any]] = []
    titles: Dict[str, str] = {}
    for event in events:
        if event.get("event") == "user" and event.get("text"):
            text = str(event["text"])
            messages.append({"role": "user", "text": titles.get(text, text), "buttons": []})
            titles = {}
        elif event.get("event") == "bot":
            data = event.get("data") if isinstance(event.get("data"), dict) else {}
            buttons = _buttons((data or {}).get("buttons"))
            if event.get("text") or buttons:
                messages.append({"role": "bot", "text": str(event.get("text") or ""), "buttons": buttons})
                titles.update({button["payload"]: button["title"] for button in buttons})
    for index, message in enumerate(messages):
        message["index"] = index
    return messages


def feedback_event(rating: str, message_index: int) -> Dict[str, Any]:
    """The `feedback` slot event that puts a rating in the conversation log."""
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    value = {"rating": rating, "message_index": message_index, "at": at}
    return {"event": "slot", "name": "feedback", "value": value, "timestamp": time.time()}


def _json(body: Dict[str, Any], status: int = 200) -> HTTPResponse:
    return sanic_json(body, status=status, ensure_ascii=False)


def _error(key: str, status: int = 400) -> HTTPResponse:
    return _json({"error": ERRORS[key], "code": key}, status=status)


def parse_json_object(content_type: str, body: bytes) -> Dict[str, Any] | None:
    """A JSON object from a request body, or None (wrong content type, not UTF-8, bad JSON, not an object)."""
    if not content_type.startswith("application/json"):
        return None
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def message_text(content_type: str, body: bytes) -> tuple[str, str]:
    """(text, "") for a message the page may send to Rasa, else ("", error key of ERRORS)."""
    data = parse_json_object(content_type, body)
    if data is None or not isinstance(data.get("message", ""), str):
        return "", "bad_request"
    text = str(data.get("message", "")).strip()
    if not text:
        return "", "empty"
    if len(text) > MAX_MESSAGE_CHARS:
        return "", "too_long"
    return text, ""


def _json_body(request: Request) -> Dict[str, Any] | None:
    """The request's JSON object, or None (wrong content type, bad JSON, not an object)."""
    return parse_json_object(request.content_type or "", request.body or b"")


def client_address(request: Request) -> str:
    """The client's address: from X-Forwarded-For / Forwarded only when a trusted proxy is configured."""
    return str(request.remote_addr or request.ip or "unknown")


def _security_headers(response: HTTPResponse, frame_ancestors: str) -> None:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        f"base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors {frame_ancestors}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    content_type = response.content_type or ""
    textual = content_type.startswith(("text/", "application/javascript"))
    if textual and "charset" not in content_type:  # the page, its CSS and JS are UTF-8 (they carry Chinese)
        response.content_type = f"{content_type}; charset=utf-8"
        response.headers["Content-Type"] = response.content_type
    response.headers["Referrer-Policy"] = "same-origin"


def _set_session_cookie(request: Request, response: HTTPResponse, signer: SessionSigner, session: Session) -> None:
    """(Re)send the signed id on every API response, so the 90 days count from the last visit."""
    response.cookies[COOKIE_NAME] = signer.sign(session.id)
    cookie = response.cookies[COOKIE_NAME]
    cookie["httponly"] = True
    cookie["samesite"] = "Lax"
    cookie["path"] = "/"
    cookie["max-age"] = COOKIE_MAX_AGE
    if request.scheme == "https":
        cookie["secure"] = True


def create_app(rasa_url: str, rasa_token: str, secret: str) -> Sanic:
    """The chat page app; `secret` signs the session cookies (BOT_SECRET_KEY or var/web-secret)."""
    app = Sanic(f"zmd_web_{next(_app_numbers)}")
    app.config.REQUEST_MAX_SIZE = 64 * 1024
    app.config.FALLBACK_ERROR_FORMAT = "json"
    limits = limit_settings()
    # Behind a reverse proxy (TLS): trust its X-Forwarded-Proto / -For, so cookies get `Secure` and rate limits
    # see the resident's address. Without this configuration the headers are ignored (anyone could forge them).
    if limits.proxies_count > 0:
        app.config.PROXIES_COUNT = limits.proxies_count
    if limits.forwarded_secret:
        app.config.FORWARDED_SECRET = limits.forwarded_secret
    per_session = RateLimiter(limits.rate_limit_messages, limits.rate_limit_window, limits.redis_url, "web:")
    per_address = RateLimiter(limits.rate_limit_ip_messages, limits.rate_limit_window, limits.redis_url, "webip:")
    # History and ratings: the same limits as messages, counted apart (reading the page does not use up sending).
    read_limits = {
        name: (
            RateLimiter(limits.rate_limit_messages, limits.rate_limit_window, limits.redis_url, f"web{name}:"),
            RateLimiter(limits.rate_limit_ip_messages, limits.rate_limit_window, limits.redis_url, f"web{name}ip:"),
        )
        for name in ("history", "feedback")
    }
    signer = SessionSigner(secret)
    frame_ancestors = web_settings().frame_ancestors

    @app.before_server_start
    async def open_client(app: Sanic, _: Any) -> None:
        app.ctx.http = aiohttp.ClientSession()
        app.ctx.rasa = RasaClient(rasa_url, rasa_token, app.ctx.http)

    @app.after_server_stop
    async def close_client(app: Sanic, _: Any) -> None:
        await app.ctx.http.close()

    @app.on_request
    async def attach_session(request: Request) -> None:
        if request.path.startswith("/api/"):
            request.ctx.session = signer.session(request.cookies.get(COOKIE_NAME))

    @app.on_response
    async def finish(request: Request, response: HTTPResponse) -> None:
        # The chat page may be framed by the city's site; the console never.
        _security_headers(response, "'none'" if request.path.startswith("/admin") else frame_ancestors)
        session = getattr(request.ctx, "session", None)
        if isinstance(session, Session):
            response.headers["Cache-Control"] = "no-store"
            _set_session_cookie(request, response, signer, session)

    app.static("/static", str(STATIC_DIR), name="static")
    from bot.web.admin import admin_blueprint  # the staff/supervisor console under /admin/

    app.blueprint(admin_blueprint())

    @app.get("/")
    async def index(request: Request) -> HTTPResponse:
        return await file(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz")
    async def healthz(request: Request) -> HTTPResponse:
        return _json({"status": "ok"})

    @app.post("/api/message")
    async def message(request: Request) -> HTTPResponse:
        text, problem = message_text(request.content_type or "", request.body or b"")
        if problem:
            return _error(problem)
        session: Session = request.ctx.session
        for decision in (await per_address.check(client_address(request)), await per_session.check(session.id)):
            if not decision.allowed:
                raise RateLimited(decision.retry_after)
        replies = await app.ctx.rasa.send(session.id, text)
        return _json({"messages": reply_messages(replies)})

    @app.get("/api/history")
    async def history(request: Request) -> HTTPResponse:
        session: Session = request.ctx.session
        await check_limits(request, session, read_limits["history"])
        if session.new:  # nothing to fetch, and no empty conversation created in Rasa for every visitor
            return _json({"messages": []})
        return _json({"messages": conversation(await app.ctx.rasa.events(session.id))})

    @app.post("/api/feedback")
    async def feedback(request: Request) -> HTTPResponse:
        body = _json_body(request) or {}
        rating, index = body.get("rating"), body.get("message_index")
        if rating not in RATINGS or not isinstance(index, int) or isinstance(index, bool) or index < 0:
            return _error("bad_rating")
        session: Session = request.ctx.session
        await check_limits(request, session, read_limits["feedback"])
        events = [] if session.new else await app.ctx.rasa.events(session.id)
        messages = conversation(events)
        if index >= len(messages) or messages[index]["role"] != "bot":
            return _error("no_answer")
        if already_rated(events, index) or not await claim_rating(session.id, index, str(rating)):
            return _error("already_rated", 409)
        try:
            await app.ctx.rasa.append(session.id, feedback_event(str(rating), index))
        except RasaUnavailable:
            ratings.release(session.id, index)  # not recorded: the resident may rate again
            raise
        return _json({"ok": True, "message": THANKS})

    @app.exception(RateLimited)
    async def rate_limited(request: Request, error: Exception) -> HTTPResponse:
        retry_after = error.retry_after if isinstance(error, RateLimited) else 1
        response = _json({"error": rate_limited_message(), "code": "rate_limited"}, status=429)
        response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception(RasaUnavailable)
    async def rasa_unavailable(request: Request, error: Exception) -> HTTPResponse:
        logger.warning("Rasa unavailable: %s", error)
        return _json({"error": unavailable_message(), "code": "rasa_unavailable"}, status=503)

    @app.exception(StoreUnavailable)
    async def store_unavailable(request: Request, error: Exception) -> HTTPResponse:
        logger.warning("ratings database unavailable (DATABASE_URL): %s", error)
        return _json({"error": unavailable_message(), "code": "database_unavailable"}, status=503)

    @app.exception(Exception)
    async def any_error(request: Request, error: Exception) -> HTTPResponse:
        status = getattr(error, "status_code", 500) if isinstance(error, SanicException) else 500
        known = {400: "bad_request", 404: "not_found", 405: "method", 413: "too_large"}
        if status in known:
            return _error(known[status], status)
        logger.exception("Unexpected error in %s %s", request.method, request.path)
        return _json({"error": unavailable_message(), "code": "server_error"}, status=500)

    return app
