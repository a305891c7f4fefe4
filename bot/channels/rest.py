"""Rasa's REST channel, with personal data masked before the message enters Rasa, and hardened for bad input.

POST /webhooks/rest/webhook {"sender": "...", "message": "..."} → [{"recipient_id", "text", "buttons"?}, ...]

- The body must be a JSON object (whatever the Content-Type says, as with Rasa's own channel, so that
  `curl -d '{...}'` keeps working) of at most MAX_BODY_BYTES; `sender` a string or number of at most
  MAX_SENDER_CHARS printable characters (missing: Rasa's "default"); `message` a string. Anything else: 400 or 413
  with a JSON error, never a 500.
- Rasa's `/intent{...}` syntax only for the button payloads the domain offers (bot/channels/payloads.py); any other
  message starting with "/" is read as text. ID, mobile and bank card numbers are masked in every spelling, also
  when split over two messages of one sender (bot/privacy.py).
- A message longer than MAX_MESSAGE_CHARS gets the polite `utter_message_too_long` (200), without a turn.
- RATE_LIMIT_MESSAGES per RATE_LIMIT_WINDOW seconds per sender (bot/limits.py): then 429, Retry-After and the
  polite `utter_rate_limited` in Rasa's reply format.
- A turn that fails inside Rasa gets `utter_service_unavailable` (the 12345 hotline), never an empty reply; the
  action server's own faults are turned into that apology inside the turn (bot/channels/faults.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import faults
from bot.channels.payloads import public_text
from bot.config import limit_settings
from bot.limits import RateLimiter
from bot.privacy import SplitNumbers, mask

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_SENDER_CHARS = 128
MAX_MESSAGE_CHARS = 2000
DEFAULT_SENDER = "default"  # Rasa's REST channel's sender when none is given
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls but tab, newline, carriage return
_BAD_SENDER = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# Only if domain.yml lacks the responses; the same sentences as there.
RATE_LIMITED_FALLBACK = "您发送得太快了，请稍后再试。"
TOO_LONG_FALLBACK = f"您的消息有点长了，请控制在{MAX_MESSAGE_CHARS}字以内，可以分几次发送。"


class BadPayload(ValueError):
    """A request body the channel refuses; `status` is 400 or 413 and the message is safe to return."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Payload:
    sender: str
    message: str
    too_long: bool = False


def _sender(value: Any) -> str:
    if value is None:
        return DEFAULT_SENDER
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadPayload(400, "sender must be a non-empty string")
    if len(value) > MAX_SENDER_CHARS or _BAD_SENDER.search(value):
        raise BadPayload(400, f"sender must be at most {MAX_SENDER_CHARS} printable characters")
    return value


def parse_payload(body: bytes) -> Payload:
    """The sender and (control characters removed) message of a webhook body; raises BadPayload."""
    if len(body) > MAX_BODY_BYTES:
        raise BadPayload(413, f"body over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise BadPayload(400, f"body is not UTF-8 JSON ({type(error).__name__})") from error
    if not isinstance(data, dict):
        raise BadPayload(400, 'body must be a JSON object {"sender": "...", "message": "..."}')
    sender = _sender(data.get("sender"))
    message = data.get("message")
    if message is None:
        message = ""
    if not isinstance(message, str):
        raise BadPayload(400, "message must be a string")
    message = _CONTROL.sub("", message).encode("utf-8", "replace").decode("utf-8")  # lone surrogates → "?"
    if len(message) > MAX_MESSAGE_CHARS:
        return Payload(sender, "", too_long=True)
    return Payload(sender, message)


def _reply(sender: str, text: str, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return response.json([{"recipient_id": sender, "text": text}], status=status, headers=headers)


class MaskedRestInput(RestInput):
    """Same URL and payload as Rasa's `rest` channel: POST /webhooks/rest/webhook {"sender", "message"}."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def __init__(self) -> None:
        self._limiter: RateLimiter | None = None
        self.split_numbers = SplitNumbers()  # a number typed over two messages of one sender

    @property
    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            config = limit_settings()
            self._limiter = RateLimiter(config.rate_limit_messages, config.rate_limit_window, config.redis_url)
        return self._limiter

    def _extract_message(self, req: Request) -> str | None:
        message = super()._extract_message(req)
        if not isinstance(message, str):
            return message
        return mask(public_text(message, getattr(getattr(req.app.ctx, "agent", None), "domain", None)))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        faults.register_listeners(webhook)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, on_new_message)

        return webhook

    async def _receive(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> HTTPResponse:
        try:
            payload = parse_payload(request.body or b"")
        except BadPayload as refused:
            return response.json({"error": str(refused)}, status=refused.status)
        agent = getattr(request.app.ctx, "agent", None)
        decision = await self.limiter.check("rest:" + payload.sender)
        if not decision.allowed:
            text = faults.domain_text(agent, "utter_rate_limited", RATE_LIMITED_FALLBACK)
            return _reply(payload.sender, text, 429, {"Retry-After": str(decision.retry_after)})
        if payload.too_long:
            return _reply(payload.sender, faults.domain_text(agent, "utter_message_too_long", TOO_LONG_FALLBACK))
        faults.prepare(request)
        collector = CollectingOutputChannel()
        text = self.split_numbers.mask(payload.sender, public_text(payload.message, getattr(agent, "domain", None)))
        message = UserMessage(text, collector, payload.sender, input_channel=self.name())
        try:
            await on_new_message(message)
        except Exception:  # the resident still gets an answer; the traceback goes to the log
            logger.exception("REST turn failed for a sender; answering %s", faults.UNAVAILABLE)
            text = faults.domain_text(agent, faults.UNAVAILABLE, faults.UNAVAILABLE_FALLBACK)
            return response.json([*collector.messages, {"recipient_id": payload.sender, "text": text}])
        return response.json(collector.messages)
