"""End to end through the real Rasa server and action server, with a client that signs and encrypts as WeChat does."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot.channels.wechat import NON_TEXT_PROMPT
from tests.channels.conftest import (
    FakeWeChatAPI,
    WeChatServers,
    event_xml,
    new_msg_id,
    new_openid,
    text_xml,
    wechat_encrypt,
    wechat_sign,
)
from tests.conftest import Servers


def test_url_verification_echoes_echostr_exactly(wechat: WeChatServers) -> None:
    client = wechat.client()
    response = client.verify("1234567890123456789")
    assert (response.status_code, response.text) == (200, "1234567890123456789")
    assert client.verify("a+b/c=d 验证").text == "a+b/c=d 验证"


@pytest.mark.parametrize(
    "overrides",
    [
        {"signature": "0" * 40},
        {"signature": ""},
        {"nonce": "other-nonce"},  # the signature no longer covers the nonce
    ],
)
def test_url_verification_with_a_bad_signature_is_403(wechat: WeChatServers, overrides: dict[str, str]) -> None:
    response = wechat.client().verify("12345", **overrides)
    assert response.status_code == 403 and "12345" not in response.text


def test_url_verification_with_a_stale_timestamp_is_403(wechat: WeChatServers) -> None:
    client = wechat.client()
    stale = client.signed_params(timestamp=int(time.time()) - 600)
    response = requests.get(client.url, params={**stale, "echostr": "12345"}, timeout=10)
    assert response.status_code == 403


def test_sscard_question_in_safe_mode_names_the_bureau(wechat: WeChatServers) -> None:
    openid = new_openid()
    reply = wechat.client().post(text_xml(openid, "社保卡咋办"), mode="aes")
    assert reply.status == 200, reply.body
    assert "社保卡" not in reply.body  # the reply travels encrypted
    assert "市人社局" in reply.content and "身份证" in reply.content
    assert reply.fields["ToUserName"] == openid and reply.fields["MsgType"] == "text"
    assert len(reply.content.encode()) <= 2048
    assert wechat.user_turns(openid) == ["社保卡咋办"]


def test_compatible_mode_works_too(wechat: WeChatServers) -> None:
    openid = new_openid()
    reply = wechat.client().post(text_xml(openid, "社保卡咋办"), mode="compat")
    assert reply.status == 200 and "市人社局" in reply.content


def test_subscribe_shows_the_topic_menu_and_a_number_picks_a_topic(wechat: WeChatServers) -> None:
    client, openid = wechat.client(), new_openid()
    welcome = client.post(event_xml(openid, "subscribe"))
    assert welcome.status == 200 and "驻马店市民助手" in welcome.content
    assert "1. 社保卡怎么办" in welcome.content and "3. 报修井盖" in welcome.content
    answer = client.post(text_xml(openid, "1"))
    assert "市人社局" in answer.content
    assert wechat.user_turns(openid) == ["/greet", "/ask_sscard_apply"]


def test_menu_click_sends_the_intent(wechat: WeChatServers) -> None:
    openid = new_openid()
    reply = wechat.client().post(event_xml(openid, "CLICK", "ask_sscard_apply"))
    assert "市人社局" in reply.content
    assert wechat.user_turns(openid) == ["/ask_sscard_apply"]


def test_image_gets_the_prompt_and_no_turn(wechat: WeChatServers) -> None:
    openid = new_openid()
    xml = text_xml(openid, "x").replace("[text]", "[image]").replace("<Content><![CDATA[x]]></Content>", "")
    reply = wechat.client().post(xml.replace("</xml>", "<PicUrl><![CDATA[http://x/1.jpg]]></PicUrl></xml>"))
    assert reply.status == 200 and reply.content == NON_TEXT_PROMPT
    assert wechat.user_turns(openid) == []


def test_location_label_fills_the_manhole_report(wechat: WeChatServers) -> None:
    client, openid = wechat.client(), new_openid()
    assert "位置" in client.post(text_xml(openid, "门口井盖没了")).content
    label = "驿城区人民路和交通路交叉口"
    location = (
        f"<xml><ToUserName><![CDATA[gh_zmd]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[location]]></MsgType>"
        f"<Location_X>32.98</Location_X><Location_Y>114.02</Location_Y><Scale>15</Scale>"
        f"<Label><![CDATA[{label}]]></Label><MsgId>{new_msg_id()}</MsgId></xml>"
    )
    reply = client.post(location)
    assert reply.status == 200 and reply.content and "井盖的位置" not in reply.content
    assert wechat.user_turns(openid)[-1] == label


def test_three_concurrent_retries_run_one_turn(wechat: WeChatServers) -> None:
    client, openid = wechat.client(), new_openid()
    xml = text_xml(openid, "社保卡咋办", msg_id=new_msg_id())
    with ThreadPoolExecutor(3) as pool:  # each retry with its own timestamp and nonce, as WeChat sends them
        replies = list(pool.map(lambda _: client.post(xml), range(3)))
    assert all(r.status == 200 for r in replies)
    answered = [r for r in replies if r.body != "success"]
    assert answered and all("市人社局" in r.content for r in answered)
    assert wechat.user_turns(openid) == ["社保卡咋办"]


def test_three_sequential_retries_run_one_turn_and_get_the_same_answer(wechat: WeChatServers) -> None:
    client, openid = wechat.client(), new_openid()
    xml = text_xml(openid, "社保卡咋办", msg_id=new_msg_id())
    replies = [client.post(xml) for _ in range(3)]
    params = client.signed_params()
    verbatim = [client.post(xml, params=params) for _ in range(2)]  # the very same request twice
    contents = {r.content for r in replies + verbatim}
    assert len(contents) == 1 and "市人社局" in contents.pop()
    assert wechat.user_turns(openid) == ["社保卡咋办"]


def test_retries_after_a_late_answer_get_success_not_a_duplicate(
    slow_wechat: WeChatServers, fake_api: FakeWeChatAPI
) -> None:
    client, openid = slow_wechat.client(), new_openid()
    xml = text_xml(openid, "社保卡咋办", msg_id=new_msg_id())
    first = client.post(xml, mode="raw")
    assert fake_api.wait_for_sends(openid, 1, timeout=60)
    retries = [client.post(xml, mode="raw") for _ in range(2)]
    assert [r.body for r in [first, *retries]] == ["success"] * 3
    assert len(fake_api.sends(openid)) == 1
    assert slow_wechat.user_turns(openid) == ["社保卡咋办"]


def test_events_are_deduplicated_by_user_time_and_event(wechat: WeChatServers) -> None:
    client, openid = wechat.client(), new_openid()
    xml = event_xml(openid, "CLICK", "ask_sscard_apply")
    for _ in range(3):
        assert client.post(xml).status == 200
    assert wechat.user_turns(openid) == ["/ask_sscard_apply"]


def test_slow_bot_replies_success_then_sends_a_customer_service_message(
    slow_wechat: WeChatServers, fake_api: FakeWeChatAPI
) -> None:
    openid = new_openid()
    reply = slow_wechat.client().post(text_xml(openid, "社保卡咋办"), mode="raw")  # plaintext mode
    assert (reply.status, reply.body) == (200, "success")
    sends = fake_api.wait_for_sends(openid, 1, timeout=60)
    assert sends, "no 客服消息 reached the fake WeChat API"
    assert sends[0]["json"]["msgtype"] == "text" and "市人社局" in sends[0]["json"]["text"]["content"]
    assert sends[0]["query"]["access_token"].startswith("ACCESS-")
    assert any(  # the stable token (docs/wechat.md): several instances share it instead of ending each other's
        c["path"] == "/cgi-bin/stable_token" and c["json"]["grant_type"] == "client_credential" for c in fake_api.calls
    )
    assert not any(c["path"] == "/cgi-bin/token" for c in fake_api.calls)
    assert slow_wechat.user_turns(openid) == ["社保卡咋办"]


# --- hostile requests: 4xx, never 500, and no turn ----------------------------------------------------------------


def _post_signed(wechat: WeChatServers, body: bytes, **extra: str) -> requests.Response:
    params = {**wechat.client().signed_params(), **extra}
    return requests.post(wechat.webhook, params=params, data=body, timeout=30)


def test_bad_signature_is_403(wechat: WeChatServers) -> None:
    client, openid = wechat.client(), new_openid()
    params = {**client.signed_params(), "signature": "f" * 40}
    assert client.post(text_xml(openid, "社保卡咋办"), params=params).status == 403
    assert wechat.user_turns(openid) == []


def test_bad_msg_signature_is_403(wechat: WeChatServers) -> None:
    openid = new_openid()
    encrypted = wechat_encrypt(text_xml(openid, "社保卡咋办").encode())
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    response = _post_signed(wechat, body, encrypt_type="aes", msg_signature="0" * 40)
    assert response.status_code == 403
    assert wechat.user_turns(openid) == []


def test_stale_timestamp_is_403(wechat: WeChatServers) -> None:
    client, openid = wechat.client(), new_openid()
    stale = client.signed_params(timestamp=int(time.time()) - 301 - 5)
    assert client.post(text_xml(openid, "社保卡咋办"), params=stale).status == 403
    future = client.signed_params(timestamp=int(time.time()) + 400)
    assert client.post(text_xml(openid, "社保卡咋办"), params=future).status == 403
    assert wechat.user_turns(openid) == []


def test_replayed_nonce_with_another_body_is_403(wechat: WeChatServers) -> None:
    client, openid = wechat.client(), new_openid()
    params = client.signed_params()
    assert client.post(text_xml(openid, "社保卡咋办"), params=params).status == 200
    assert client.post(text_xml(openid, "转人工"), params=params).status == 403
    assert wechat.user_turns(openid) == ["社保卡咋办"]


@pytest.mark.parametrize(
    "body",
    [b"<xml><ToUserName>", b"\x00\xff garbage", b"", b"<html><body>hi</body></html>"],
)
def test_malformed_xml_is_400(wechat: WeChatServers, body: bytes) -> None:
    assert _post_signed(wechat, body).status_code == 400


def test_malformed_xml_inside_encrypt_is_400(wechat: WeChatServers) -> None:
    encrypted = wechat_encrypt(b"<xml><FromUserName>o</FromUserName><oops")
    params = wechat.client().signed_params()
    params["encrypt_type"] = "aes"
    params["msg_signature"] = wechat_sign(wechat.client().token, params["timestamp"], params["nonce"], encrypted)
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    assert requests.post(wechat.webhook, params=params, data=body, timeout=30).status_code == 400


def test_one_megabyte_body_is_413(wechat: WeChatServers) -> None:
    body = text_xml(new_openid(), "社" * (1024 * 1024 // 3)).encode()
    assert len(body) >= 1024 * 1024
    assert _post_signed(wechat, body).status_code == 413


ENTITY_BOMB = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>
<xml><ToUserName><![CDATA[gh_zmd]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>
<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>&e;</Content><MsgId>1</MsgId></xml>"""


def test_entity_bomb_is_400_plain_and_encrypted(wechat: WeChatServers) -> None:
    openid = new_openid()
    bomb = ENTITY_BOMB.replace("{openid}", openid)
    assert _post_signed(wechat, bomb.encode()).status_code == 400
    assert wechat.client().post(bomb, mode="aes").status == 400
    assert wechat.user_turns(openid) == []


def test_server_still_answers_after_the_attacks(wechat: WeChatServers) -> None:
    reply = wechat.client().post(text_xml(new_openid(), "社保卡咋办"))
    assert reply.status == 200 and "市人社局" in reply.content


def test_channel_is_off_without_wechat_token(servers: Servers) -> None:
    """The project's default server (tests/conftest.py) runs without WECHAT_TOKEN."""
    assert "WECHAT_TOKEN" not in os.environ, "unset WECHAT_TOKEN before running the tests"
    url = f"{servers.rasa_url}/webhooks/wechat/webhook"
    params = {"signature": wechat_sign("", "1", "2"), "timestamp": str(int(time.time())), "nonce": "2"}
    assert requests.get(url, params={**params, "echostr": "x"}, timeout=10).status_code == 404
    assert requests.post(url, params=params, data=text_xml(new_openid(), "hi").encode(), timeout=10).status_code == 404
