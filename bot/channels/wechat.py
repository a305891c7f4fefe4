"""WeChat official account (公众号) channel: GET/POST /webhooks/wechat/webhook.

Set-up and the account's settings: docs/wechat.md. Protocol pieces are pure functions in wechat_protocol.py,
exactly-one-turn-per-message in wechat_dedup.py, late answers (客服消息) in wechat_delivery.py.

WeChat waits 5 seconds for an answer and then retries. So the Rasa turn gets `reply_timeout` seconds (default 4):
if it finishes, the answer goes back in the HTTP reply (被动回复); otherwise the reply is `success` at once and the
answer is sent later through the customer-service API (only when WECHAT_APPSECRET is set).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import faults
from bot.channels import wechat_protocol as protocol
from bot.channels.payloads import public_text
from bot.channels.wechat_dedup import Deduplicator, make_store
from bot.channels.wechat_delivery import CustomerServiceClient, DeliveryError, hash_openid
from bot.config import WeChatSettings, limit_settings, wechat_settings
from bot.limits import RateLimiter
from bot.privacy import SplitNumbers

logger = logging.getLogger(__name__)

# Shown for images, video, links, files and other messages the assistant cannot read. Kept here until it moves to
# domain.yml (a response such as `utter_wechat_type_question`), where the rest of the residents' wording lives.
NON_TEXT_PROMPT = "抱歉，我暂时看不懂图片、视频和文件。请直接打字告诉我您想办的事，比如“社保卡咋办”“井盖坏了”。"
# Shown when the turn fails; the same wording as `utter_service_unavailable` in domain.yml.
SERVICE_ERROR = "抱歉，系统暂时出了点问题，请稍后再试；着急的话请拨打12345政务服务便民热线。"
# Shown when one resident sends more than RATE_LIMIT_MESSAGES per window; `utter_rate_limited` in domain.yml wins.
RATE_LIMITED = "您发送得太快了，请稍后再试。"
WELCOME_PAYLOAD = "/greet"  # a new follower gets Rasa's greeting, whose buttons are the topic menu
INTENT_KEY = re.compile(r"^[a-z_]+$")  # a menu CLICK's EventKey is an intent name
MAX_INPUT_CHARS = 600
RETRY_WAIT = 4.0  # a retry waits at most this long for the first request's answer (WeChat gives up at 5 s)
MESSAGE_QUOTA = 5  # 客服消息 allowed after a resident's message (48 h) ...
EVENT_QUOTA = 3  # ... and after a menu click or a subscribe (1 minute)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


@dataclass(frozen=True)
class Step:
    """What to do with one inbound message: send `message` to Rasa, or answer `reply` directly, or neither."""

    message: str = ""
    reply: str = ""
    typed: bool = False  # typed (or spoken) by the resident: masked, and "2" may pick a numbered button
    quota: int = MESSAGE_QUOTA


def _typed(text: str) -> Step:
    # A leading "/" would let a resident inject intents and entities ("/report_manhole{...}"): only menus may
    # (and "2" for a numbered button, below). No known payload is let through: typed text is never a payload.
    cleaned = public_text(text, None).strip()[:MAX_INPUT_CHARS]
    return Step(message=cleaned, typed=True) if cleaned else Step(reply=NON_TEXT_PROMPT)


def _on_text(message: protocol.InboundMessage) -> Step:
    return _typed(message.get("Content"))


def _on_voice(message: protocol.InboundMessage) -> Step:
    return _typed(message.get("Recognition"))  # 语音识别结果; empty when recognition is off


def _on_location(message: protocol.InboundMessage) -> Step:
    return _typed(message.get("Label"))  # e.g. the place of a broken manhole cover


def _on_subscribe(message: protocol.InboundMessage) -> Step:
    return Step(message=WELCOME_PAYLOAD, quota=EVENT_QUOTA)


def _on_click(message: protocol.InboundMessage) -> Step:
    key = message.event_key.strip()
    if INTENT_KEY.fullmatch(key):
        return Step(message=f"/{key}", quota=EVENT_QUOTA)
    logger.warning("wechat menu key %r is not an intent name (^[a-z_]+$); see docs/wechat.md", key[:40])
    return Step(reply=NON_TEXT_PROMPT)


def _on_event(message: protocol.InboundMessage) -> Step:
    handler = EVENT_HANDLERS.get(message.event.lower())
    return handler(message) if handler else Step()  # VIEW, LOCATION, unsubscribe, …: nothing to say


def _on_unknown(message: protocol.InboundMessage) -> Step:
    return Step(reply=NON_TEXT_PROMPT)


Handler = Callable[[protocol.InboundMessage], Step]
MESSAGE_HANDLERS: Mapping[str, Handler] = {
    "text": _on_text,
    "voice": _on_voice,
    "location": _on_location,
    "event": _on_event,
}
EVENT_HANDLERS: Mapping[str, Handler] = {"subscribe": _on_subscribe, "click": _on_click}


def step_for(message: protocol.InboundMessage) -> Step:
    """The registry lookup; image, video, link, file and unknown types get the prompt to type the question."""
    return MESSAGE_HANDLERS.get(message.msg_type, _on_unknown)(message)


class Refused(Exception):
    """A request answered with a 4xx status; the message is safe to log (no content, no OpenID)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Opened:
    message: protocol.InboundMessage
    safe_mode: bool


class WeChatInput(InputChannel):
    """WeChat 公众号 webhook. Off (404) unless WECHAT_TOKEN is set."""

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        # Secrets come from the environment only (bot/config.py), never from credentials.yml.
        return cls(wechat_settings())

    def __init__(self, settings: WeChatSettings) -> None:
        self.settings = settings
        self._dedup: Deduplicator | None = None
        self._client: CustomerServiceClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._limiter: RateLimiter | None = None
        self._agent: Any = None
        self.split_numbers = SplitNumbers()  # a number typed over two messages of one OpenID

    # --- lazily built helpers (nothing at import or construction time) ---

    @property
    def dedup(self) -> Deduplicator:
        if self._dedup is None:
            self._dedup = Deduplicator(make_store(self.settings.redis_url))
        return self._dedup

    @property
    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            config = limit_settings()
            self._limiter = RateLimiter(config.rate_limit_messages, config.rate_limit_window, config.redis_url)
        return self._limiter

    @property
    def client(self) -> CustomerServiceClient | None:
        if self._client is None and self.settings.app_secret and self.settings.app_id:
            s = self.settings
            self._client = CustomerServiceClient(s.api_base, s.app_id, s.app_secret)
        return self._client

    # --- HTTP ---

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        module = inspect.getmodule(self)
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", module.__name__ if module else None)
        faults.register_listeners(webhook)  # request size cap; action-server faults become an apology

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            return await self._guarded(self._verify(request))

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            faults.prepare(request)
            self._agent = getattr(request.app.ctx, "agent", None)
            return await self._guarded(self._receive(request, on_new_message))

        return webhook

    @staticmethod
    async def _guarded(handling: Awaitable[HTTPResponse]) -> HTTPResponse:
        """The handler's response, or the 4xx it refused the request with."""
        try:
            return await handling
        except Refused as refused:
            logger.info("wechat request refused (%s): %s", refused.status, refused)
            return response.text(str(refused), status=refused.status)

    def _check_request(self, request: Request) -> tuple[str, str]:
        """404 when off; 403 on a bad `signature` or a timestamp more than 5 minutes off. Returns (timestamp, nonce)."""
        token = self.settings.token
        if not token:
            raise Refused(404, "not found")
        args = request.args
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        if not protocol.check_signature(token, args.get("signature", ""), timestamp, nonce):
            raise Refused(403, "bad signature")
        if not protocol.is_fresh(timestamp, time.time()):
            raise Refused(403, "stale timestamp")
        return timestamp, nonce

    async def _verify(self, request: Request) -> HTTPResponse:
        """URL verification (接入验证): echo `echostr` exactly."""
        self._check_request(request)
        return response.text(request.args.get("echostr", ""), content_type="text/plain; charset=utf-8")

    async def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        if not self.settings.token:
            raise Refused(404, "not found")
        body = request.body or b""
        if len(body) > protocol.MAX_BODY_BYTES:
            raise Refused(413, "body too large")
        timestamp, nonce = self._check_request(request)
        opened = self._open(request, body, timestamp, nonce)
        inbound = opened.message
        if not await self.dedup.nonce_is_new(timestamp, nonce, inbound.dedup_key):
            raise Refused(403, "replayed nonce")
        logger.debug("wechat %s from user %s", inbound.msg_type, hash_openid(inbound.from_user))
        text = await self._answer(inbound, on_new_message)
        if not text:
            return response.text(protocol.SUCCESS)
        reply = protocol.render_text_reply(inbound.from_user, inbound.to_user, text, int(time.time()))
        if opened.safe_mode:
            reply = self._seal(reply, nonce)
        return response.text(reply, content_type="application/xml; charset=utf-8")

    def _open(self, request: Request, body: bytes, timestamp: str, nonce: str) -> Opened:
        """Parse the body; in safe or compatible mode (encrypt_type=aes) check msg_signature and decrypt."""
        settings = self.settings
        try:
            fields = protocol.parse_xml(body)
            if request.args.get("encrypt_type", "raw") != "aes":
                if settings.aes_key:  # the account is in safe mode: an unencrypted body is not authenticated
                    raise Refused(403, "safe mode is configured; plaintext messages are refused")
                return Opened(protocol.message_from_fields(fields), safe_mode=False)
            if not (settings.aes_key and settings.app_id):
                raise Refused(400, "encrypted message but WECHAT_AES_KEY / WECHAT_APPID are not set")
            encrypted = fields.get("Encrypt", "")
            signature = request.args.get("msg_signature", "")
            if not encrypted or not protocol.check_msg_signature(
                settings.token, signature, timestamp, nonce, encrypted
            ):
                raise Refused(403, "bad msg_signature")
            plain = protocol.decrypt(settings.aes_key, encrypted, settings.app_id)
            return Opened(protocol.parse_message(plain), safe_mode=True)
        except protocol.CryptoError as error:
            raise Refused(403, str(error)) from error
        except protocol.ProtocolError as error:
            raise Refused(400, str(error)) from error

    def _seal(self, reply: str, nonce: str) -> str:
        settings = self.settings
        encrypted = protocol.encrypt(settings.aes_key, reply.encode("utf-8"), settings.app_id)
        return protocol.render_encrypted_reply(settings.token, encrypted, str(int(time.time())), nonce)

    # --- turns ---

    async def _answer(self, inbound: protocol.InboundMessage, on_new_message: OnNewMessage) -> str:
        """The passive reply's text ("" for `success`), running at most one Rasa turn per message."""
        step = step_for(inbound)
        if not step.message:
            return step.reply
        key = inbound.dedup_key
        if not await self.dedup.claim(key):
            outcome = await self.dedup.wait(key, min(self.settings.reply_timeout, RETRY_WAIT))
            return outcome.text if outcome.state == "done" else ""
        decision = await self.limiter.check("wechat:" + inbound.from_user)  # a retry of a message is not counted
        if not decision.allowed:
            text = faults.domain_text(self._agent, "utter_rate_limited", RATE_LIMITED)
            await self.dedup.finish(key, text)
            return text
        text = await self._rasa_text(inbound, step)
        return await self._run_turn(inbound, step, text, on_new_message)

    async def _rasa_text(self, inbound: protocol.InboundMessage, step: Step) -> str:
        if not step.typed:
            return step.message
        if step.message.isdigit() and len(step.message) <= 2:
            payload = await self.dedup.button_payload(inbound.from_user, int(step.message))
            if payload:
                return payload
        return self.split_numbers.mask("wechat:" + inbound.from_user, step.message)

    async def _run_turn(
        self, inbound: protocol.InboundMessage, step: Step, text: str, on_new_message: OnNewMessage
    ) -> str:
        collector = CollectingOutputChannel()
        metadata = {"wechat": {"msg_type": inbound.msg_type, "event": inbound.event}}
        message = UserMessage(text, collector, inbound.from_user, input_channel=self.name(), metadata=metadata)
        task: asyncio.Task[Any] = asyncio.ensure_future(on_new_message(message))
        done, _ = await asyncio.wait({task}, timeout=self.settings.reply_timeout)
        if task not in done:
            await self.dedup.defer(inbound.dedup_key)
            self._in_background(self._deliver_later(task, collector, inbound, step))
            return ""
        pieces = await self._collect(task, collector, inbound)
        first = pieces[0] if pieces else ""
        await self.dedup.finish(inbound.dedup_key, first)
        if len(pieces) > 1:  # a passive reply holds one message: the rest follows as 客服消息
            self._in_background(self._send(inbound.from_user, pieces[1:], step.quota - 1))
        return first

    async def _collect(
        self, task: asyncio.Task[Any], collector: CollectingOutputChannel, inbound: protocol.InboundMessage
    ) -> list[str]:
        """The turn's answer in pieces WeChat accepts; remembers its buttons for a numbered reply."""
        try:
            task.result()
        except Exception:  # the resident still gets an answer; the traceback goes to the log, not their text
            logger.exception("wechat turn failed for user %s", hash_openid(inbound.from_user))
            return [faults.domain_text(self._agent, faults.UNAVAILABLE, SERVICE_ERROR)]
        text, payloads = protocol.render_bot_messages(collector.messages)
        if payloads:
            await self.dedup.remember_buttons(inbound.from_user, payloads)
        return protocol.split_text(text)

    async def _deliver_later(
        self,
        task: asyncio.Task[Any],
        collector: CollectingOutputChannel,
        inbound: protocol.InboundMessage,
        step: Step,
    ) -> None:
        await asyncio.wait({task})
        pieces = await self._collect(task, collector, inbound)
        if self.client is None:  # nothing can send it: keep it for a retry of the message, should WeChat send one
            await self.dedup.finish(inbound.dedup_key, pieces[0] if pieces else "")
        await self._send(inbound.from_user, pieces, step.quota)  # retries keep getting `success`: no duplicate

    async def _send(self, openid: str, pieces: list[str], quota: int) -> None:
        client = self.client
        user = hash_openid(openid)
        if client is None:
            logger.warning("wechat answer for user %s not delivered: set WECHAT_APPSECRET to enable 客服消息", user)
            return
        if len(pieces) > quota:
            logger.warning("wechat answer for user %s cut to %d messages (客服消息 quota)", user, quota)
        for piece in pieces[: max(quota, 0)]:
            try:
                await asyncio.to_thread(client.send_text, openid, piece)
            except (DeliveryError, OSError, ValueError) as error:  # requests' errors are OSErrors
                logger.warning("wechat 客服消息 for user %s failed: %s", user, error)
                return

    def _in_background(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)  # keep a reference until done, or the task may be garbage-collected
        task.add_done_callback(self._tasks.discard)
