"""The channel's HTTP behaviour in-process: the real WeChatInput blueprint on a Sanic server, a scripted bot.

Fast and deterministic (the bot's delay and answers are chosen per test); test_wechat_e2e.py runs the real Rasa.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.wechat import NON_TEXT_PROMPT, SERVICE_ERROR, WeChatInput
from bot.config import WeChatSettings
from tests.channels.conftest import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TOKEN,
    FakeWeChatAPI,
    WeChatClient,
    event_xml,
    new_openid,
    text_xml,
)
from tests.conftest import free_port


@dataclass
class ScriptedBot:
    """Stands in for Rasa's on_new_message: records what it got, waits `delay`, answers `answer(text)`."""

    delay: float = 0.0
    answer: Callable[[str], list[dict[str, Any]]] = lambda text: [{"text": f"答：{text}"}]
    received: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, message: UserMessage) -> None:
        self.received.append((message.sender_id, message.text or ""))
        await asyncio.sleep(self.delay)
        for reply in self.answer(message.text or ""):
            await message.output_channel.send_response(message.sender_id, reply)


def settings(api: FakeWeChatAPI | None = None, **changes: Any) -> WeChatSettings:
    base = WeChatSettings(
        token=TOKEN,
        app_id=APP_ID,
        aes_key="",
        app_secret=APP_SECRET if api else "",
        api_base=api.base if api else "http://127.0.0.1:9",
        redis_url="",
        reply_timeout=2.0,
    )
    return replace(base, **changes)


@dataclass
class Running:
    client: WeChatClient
    bot: ScriptedBot

    async def post(self, xml: str, mode: str = "raw", **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.client.post, xml, mode, **kwargs)


Start = Callable[..., Any]


@pytest.fixture
async def start(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    monkeypatch.setattr(Sanic, "test_mode", True)  # lets several apps start in one process (Sanic's touchup)
    servers: list[Any] = []

    async def run(config: WeChatSettings, bot: ScriptedBot | None = None) -> Running:
        bot = bot or ScriptedBot()
        app = Sanic(f"wechat-test-{uuid.uuid4().hex[:8]}")
        app.blueprint(WeChatInput(config).blueprint(bot), url_prefix="/webhooks/wechat")
        port = free_port()
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        assert server is not None
        await server.startup()
        servers.append(server)
        url = f"http://127.0.0.1:{port}/webhooks/wechat/webhook"
        return Running(WeChatClient(url, aes_key=config.aes_key or AES_KEY), bot)

    yield run
    for server in servers:
        server.close()


async def test_off_without_token_is_404_on_get_and_post(start: Start) -> None:
    running = await start(settings(token=""))
    get = await asyncio.to_thread(running.client.verify, "123")
    post = await running.post(text_xml(new_openid(), "社保卡咋办"))
    assert (get.status_code, post.status) == (404, 404)
    assert running.bot.received == []


async def test_plaintext_mode_answers_passively_to_the_resident(start: Start) -> None:
    running = await start(settings())
    openid = new_openid()
    reply = await running.post(text_xml(openid, "社保卡咋办"))
    assert reply.status == 200
    assert reply.fields["ToUserName"] == openid and reply.fields["FromUserName"] == "gh_zmd"
    assert reply.fields["MsgType"] == "text" and reply.content == "答：社保卡咋办"
    assert running.bot.received == [(openid, "社保卡咋办")]


async def test_compatible_mode_reply_is_encrypted(start: Start) -> None:
    running = await start(settings(aes_key=AES_KEY))
    reply = await running.post(text_xml(new_openid(), "电梯困人了"), mode="compat")
    assert reply.status == 200 and "<Encrypt>" in reply.body and "电梯" not in reply.body
    assert reply.content == "答：电梯困人了"


async def test_safe_mode_refuses_plaintext_bodies(start: Start) -> None:
    running = await start(settings(aes_key=AES_KEY))
    reply = await running.post(text_xml(new_openid(), "社保卡咋办"), mode="raw")
    assert reply.status == 403
    assert running.bot.received == []


async def test_wrong_app_id_in_payload_is_refused(start: Start) -> None:
    running = await start(settings(aes_key=AES_KEY))
    running.client.app_id = "wx0000000000000000"
    reply = await running.post(text_xml(new_openid(), "社保卡咋办"), mode="aes")
    assert reply.status == 403 and running.bot.received == []


async def test_slow_turn_replies_success_then_sends_customer_service_message(
    start: Start, fresh_api: FakeWeChatAPI
) -> None:
    running = await start(settings(fresh_api, reply_timeout=0.2), ScriptedBot(delay=1.0))
    openid = new_openid()
    reply = await running.post(text_xml(openid, "社保卡咋办"))
    assert (reply.status, reply.body) == (200, "success")
    sends = await asyncio.to_thread(fresh_api.wait_for_sends, openid, 1, 10)
    assert [s["json"] for s in sends] == [{"touser": openid, "msgtype": "text", "text": {"content": "答：社保卡咋办"}}]
    assert "答：社保卡咋办".encode() in sends[0]["raw"]  # UTF-8, not \\u escapes
    assert sends[0]["query"]["access_token"] == "ACCESS-1"


async def test_retries_while_the_turn_runs_get_the_same_answer_and_no_second_turn(start: Start) -> None:
    running = await start(settings(), ScriptedBot(delay=0.8))
    openid, msg_id = new_openid(), "6054768590064713728"
    xml = text_xml(openid, "社保卡咋办", msg_id=msg_id)
    replies = await asyncio.gather(*(running.post(xml) for _ in range(3)))
    later = await running.post(xml)
    assert len(running.bot.received) == 1
    assert [r.content for r in [*replies, later]] == ["答：社保卡咋办"] * 4


async def test_buttons_become_numbered_lines_and_a_number_picks_one(start: Start) -> None:
    def answer(text: str) -> list[dict[str, Any]]:
        buttons = [
            {"title": "社保卡怎么办", "payload": "/ask_sscard_apply"},
            {"title": "报修井盖", "payload": "/report_manhole"},
        ]
        return [{"text": "您好！", "buttons": buttons}]

    running = await start(settings(), ScriptedBot(answer=answer))
    openid = new_openid()
    reply = await running.post(text_xml(openid, "你好"))
    assert reply.content == "您好！\n1. 社保卡怎么办\n2. 报修井盖"
    await running.post(text_xml(openid, "2"))
    assert running.bot.received[-1] == (openid, "/report_manhole")


async def test_typed_slash_cannot_inject_an_intent_and_numbers_are_masked(start: Start) -> None:
    running = await start(settings())
    openid = new_openid()
    await running.post(text_xml(openid, '/report_manhole{"county": "x"}'))
    await running.post(text_xml(openid, "我的手机13812345678"))
    assert running.bot.received == [(openid, 'report_manhole{"county": "x"}'), (openid, "我的手机[手机号]")]


async def test_spaced_slashes_spelled_and_split_numbers_are_caught(start: Start) -> None:
    """Issue 17.2 and 17.4 on WeChat: " / /greet" was read as an intent; 一三八…, a number over two messages."""
    running = await start(settings())
    openid = new_openid()
    for text in [" / /greet", "手机一三八零零一三八零零零", "身份证4101021990", "01011234，社保卡丢了"]:
        await running.post(text_xml(openid, text))
    assert [text for _, text in running.bot.received] == [
        "greet",
        "手机[手机号]",
        "身份证[号码]",
        "[身份证号]，社保卡丢了",
    ]


async def test_events_subscribe_click_and_others(start: Start) -> None:
    running = await start(settings())
    openid = new_openid()
    welcome = await running.post(event_xml(openid, "subscribe"))
    click = await running.post(event_xml(openid, "CLICK", "ask_sscard_apply"))
    bad_click = await running.post(event_xml(openid, "CLICK", "../../etc"))
    view = await running.post(event_xml(openid, "VIEW", "https://example.org/"))
    gone = await running.post(event_xml(openid, "unsubscribe"))
    assert running.bot.received == [(openid, "/greet"), (openid, "/ask_sscard_apply")]
    assert welcome.content == "答：/greet" and click.content == "答：/ask_sscard_apply"
    assert bad_click.content == NON_TEXT_PROMPT
    assert (view.body, gone.body) == ("success", "success")


async def test_long_answer_is_split_passive_first_then_customer_service(start: Start, fresh_api: FakeWeChatAPI) -> None:
    long_text = "".join(f"第{i}句，社保卡在银行网点办理。" for i in range(200))
    running = await start(settings(fresh_api), ScriptedBot(answer=lambda text: [{"text": long_text}]))
    openid = new_openid()
    reply = await running.post(text_xml(openid, "社保卡咋办"))
    sends = await asyncio.to_thread(fresh_api.wait_for_sends, openid, 2, 10)
    pieces = [reply.content] + [s["json"]["text"]["content"] for s in sends]
    assert all(len(p.encode()) <= 2048 for p in pieces) and all(p.endswith("。") for p in pieces)
    assert "".join(pieces) == long_text


async def test_a_failing_turn_gets_an_apology_not_a_500(start: Start) -> None:
    def broken(text: str) -> list[dict[str, Any]]:
        raise RuntimeError("action server down")

    running = await start(settings(), ScriptedBot(answer=broken))
    reply = await running.post(text_xml(new_openid(), "社保卡咋办"))
    assert reply.status == 200 and reply.content == SERVICE_ERROR


async def test_nonce_reused_with_another_body_is_refused(start: Start) -> None:
    running = await start(settings())
    params = running.client.signed_params()
    first = await running.post(text_xml(new_openid(), "社保卡咋办"), params=params)
    forged = await running.post(text_xml(new_openid(), "转人工"), params=params)
    assert (first.status, forged.status) == (200, 403)
    assert len(running.bot.received) == 1
