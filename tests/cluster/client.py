"""A REST client that talks to the cluster like a careful app: it retries a turn without ever sending it twice.

After a request that failed because the instance went away (connection lost, 502/503 from nginx) it reads the
conversation back from Rasa's tracker API: if its message is stored, the bot events after it are the answer;
otherwise it sends the message again. That is safe only because the instance that had the message is gone; so there
is no client-side timeout short enough to abandon a turn that is still running.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import sqlalchemy as sa

RETRYABLE_STATUS = {502, 503}
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=900)


@dataclass
class Conversation:
    sender: str
    messages: list[str]
    replies: list[list[str]] = field(default_factory=list)  # the reply texts of each turn, as the client got them
    retries: int = 0
    recovered: int = 0  # turns whose answer was read back from the tracker after a lost response


class Client:
    def __init__(self, base_url: str, token: str, session: aiohttp.ClientSession) -> None:
        self.base_url, self.token, self.session = base_url, token, session

    async def converse(self, conversation: Conversation) -> Conversation:
        for number, message in enumerate(conversation.messages, start=1):
            conversation.replies.append(await self.turn(conversation, number, message))
        return conversation

    async def turn(self, conversation: Conversation, number: int, message: str) -> list[str]:
        for _ in range(20):
            try:
                replies = await self.send(conversation.sender, message)
            except aiohttp.ClientError:  # connection refused or dropped: the instance is gone
                replies = None
            if replies is not None:
                return replies
            conversation.retries += 1
            await asyncio.sleep(1)
            stored = await self.stored_answer(conversation.sender, number)
            if stored is not None:
                conversation.recovered += 1
                return stored
        raise AssertionError(f"{conversation.sender}: turn {number} failed 20 times")

    async def send(self, sender: str, message: str) -> list[str] | None:
        url = f"{self.base_url}/webhooks/rest/webhook"
        body = {"sender": sender, "message": message}
        async with self.session.post(url, json=body, timeout=REQUEST_TIMEOUT) as reply:
            if reply.status in RETRYABLE_STATUS:
                return None
            assert reply.status == 200, f"{sender}: HTTP {reply.status} {await reply.text()}"
            return [item.get("text") or "" for item in await reply.json()]

    async def stored_answer(self, sender: str, number: int) -> list[str] | None:
        """The bot's texts after the `number`-th user message, if Rasa stored that message; else None."""
        url = f"{self.base_url}/conversations/{quote(sender, safe='')}/tracker"
        for _ in range(30):
            try:
                async with self.session.get(url, params={"token": self.token}, timeout=REQUEST_TIMEOUT) as reply:
                    if reply.status == 200:
                        events = (await reply.json()).get("events") or []
                        return turns_of(events).get(number)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(1)
        raise AssertionError(f"{sender}: tracker unreadable")


def turns_of(events: list[dict[str, Any]]) -> dict[int, list[str]]:
    """Event dicts → {n: bot texts after the n-th user message} (n from 1)."""
    turns: dict[int, list[str]] = {}
    number = 0
    for event in events:
        if event.get("event") == "user":
            number += 1
            turns[number] = []
        elif event.get("event") == "bot" and number:
            turns[number].append(event.get("text") or "")
    return turns


def stored_conversations(database_url: str, senders: set[str]) -> dict[str, list[tuple[str, str]]]:
    """(event type, text) of every user and bot row, per sender, in id order, straight from PostgreSQL."""
    engine = sa.create_engine(database_url, future=True)
    query = sa.text("SELECT sender_id, type_name, data FROM events WHERE type_name IN ('user', 'bot') ORDER BY id")
    found: dict[str, list[tuple[str, str]]] = {sender: [] for sender in senders}
    try:
        with engine.connect() as connection:
            for sender, type_name, data in connection.execute(query):
                if sender in found:
                    found[sender].append((type_name, json.loads(data).get("text") or ""))
    finally:
        engine.dispose()
    return found


def expected_rows(conversation: Conversation) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for message, replies in zip(conversation.messages, conversation.replies, strict=True):
        rows.append(("user", message))
        rows += [("bot", text) for text in replies]
    return rows
