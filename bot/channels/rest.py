"""Rasa's REST channel, with personal data masked before the message enters Rasa."""

from __future__ import annotations

from rasa.core.channels.rest import RestInput
from sanic.request import Request

from bot.privacy import mask


class MaskedRestInput(RestInput):
    """Same URL and payload as Rasa's `rest` channel: POST /webhooks/rest/webhook {"sender", "message"}."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def _extract_message(self, req: Request) -> str | None:
        message = super()._extract_message(req)
        return mask(message) if isinstance(message, str) else message
