"""One parser test per message type, with the XML from WeChat's docs (接收普通消息, 接收事件推送), and what the
channel does with each; plus hostile bodies."""

from __future__ import annotations

import pytest

from bot.channels import wechat_protocol as protocol
from bot.channels.wechat import NON_TEXT_PROMPT, WELCOME_PAYLOAD, Step, step_for

TEXT = b"""<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>1348831860</CreateTime>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[this is a test]]></Content>
<MsgId>1234567890123456</MsgId>
</xml>"""

IMAGE = b"""<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>1348831860</CreateTime>
<MsgType><![CDATA[image]]></MsgType>
<PicUrl><![CDATA[this is a url]]></PicUrl>
<MediaId><![CDATA[media_id]]></MediaId>
<MsgId>1234567890123456</MsgId>
</xml>"""

VOICE = b"""<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>1357290913</CreateTime>
<MsgType><![CDATA[voice]]></MsgType>
<MediaId><![CDATA[media_id]]></MediaId>
<Format><![CDATA[Format]]></Format>
<MsgId>1234567890123456</MsgId>
</xml>"""

VOICE_RECOGNISED = """<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>1357290913</CreateTime>
<MsgType><![CDATA[voice]]></MsgType>
<MediaId><![CDATA[media_id]]></MediaId>
<Format><![CDATA[Format]]></Format>
<Recognition><![CDATA[腾讯微信团队]]></Recognition>
<MsgId>1234567890123456</MsgId>
</xml>""".encode()

VIDEO = b"""<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>1357290913</CreateTime>
<MsgType><![CDATA[video]]></MsgType>
<MediaId><![CDATA[media_id]]></MediaId>
<ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>
<MsgId>1234567890123456</MsgId>
</xml>"""

SHORT_VIDEO = VIDEO.replace(b"[video]", b"[shortvideo]")

LOCATION = """<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>1351776360</CreateTime>
<MsgType><![CDATA[location]]></MsgType>
<Location_X>23.134521</Location_X>
<Location_Y>113.358803</Location_Y>
<Scale>20</Scale>
<Label><![CDATA[位置信息]]></Label>
<MsgId>1234567890123456</MsgId>
</xml>""".encode()

LINK = """<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>1351776360</CreateTime>
<MsgType><![CDATA[link]]></MsgType>
<Title><![CDATA[公众平台官网链接]]></Title>
<Description><![CDATA[公众平台官网链接]]></Description>
<Url><![CDATA[url]]></Url>
<MsgId>1234567890123456</MsgId>
</xml>""".encode()

SUBSCRIBE = b"""<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>123456789</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[subscribe]]></Event>
</xml>"""

UNSUBSCRIBE = SUBSCRIBE.replace(b"[subscribe]", b"[unsubscribe]")

CLICK = b"""<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>123456789</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[CLICK]]></Event>
<EventKey><![CDATA[EVENTKEY]]></EventKey>
</xml>"""

VIEW = b"""<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>123456789</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[VIEW]]></Event>
<EventKey><![CDATA[www.qq.com]]></EventKey>
</xml>"""

LOCATION_EVENT = b"""<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>123456789</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[LOCATION]]></Event>
<Latitude>23.137466</Latitude>
<Longitude>113.352425</Longitude>
<Precision>119.385040</Precision>
</xml>"""

SCANCODE_PUSH = b"""<xml><ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>
<FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>
<CreateTime>1408090502</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[scancode_push]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>
<ScanResult><![CDATA[1]]></ScanResult>
</ScanCodeInfo>
</xml>"""


def test_text() -> None:
    message = protocol.parse_message(TEXT)
    assert (message.to_user, message.from_user, message.create_time) == ("toUser", "fromUser", "1348831860")
    assert (message.msg_type, message.get("Content"), message.msg_id) == ("text", "this is a test", "1234567890123456")
    assert message.dedup_key == "msg:1234567890123456"
    assert step_for(message) == Step(message="this is a test", typed=True)


def test_image_gets_the_prompt_to_type() -> None:
    message = protocol.parse_message(IMAGE)
    assert (message.msg_type, message.get("PicUrl"), message.get("MediaId")) == ("image", "this is a url", "media_id")
    assert step_for(message) == Step(reply=NON_TEXT_PROMPT)


def test_voice_without_recognition_gets_the_prompt() -> None:
    message = protocol.parse_message(VOICE)
    assert (message.msg_type, message.get("Format"), message.get("Recognition")) == ("voice", "Format", "")
    assert step_for(message) == Step(reply=NON_TEXT_PROMPT)


def test_voice_with_recognition_sends_its_text() -> None:
    message = protocol.parse_message(VOICE_RECOGNISED)
    assert message.get("Recognition") == "腾讯微信团队"
    assert step_for(message) == Step(message="腾讯微信团队", typed=True)


@pytest.mark.parametrize(("body", "msg_type"), [(VIDEO, "video"), (SHORT_VIDEO, "shortvideo"), (LINK, "link")])
def test_video_short_video_and_link_get_the_prompt(body: bytes, msg_type: str) -> None:
    message = protocol.parse_message(body)
    assert message.msg_type == msg_type and message.msg_id == "1234567890123456"
    assert step_for(message) == Step(reply=NON_TEXT_PROMPT)


def test_location_sends_its_label() -> None:
    message = protocol.parse_message(LOCATION)
    assert (message.get("Location_X"), message.get("Location_Y"), message.get("Scale")) == (
        "23.134521",
        "113.358803",
        "20",
    )
    assert step_for(message) == Step(message="位置信息", typed=True)


def test_subscribe_sends_greet() -> None:
    message = protocol.parse_message(SUBSCRIBE)
    assert (message.msg_type, message.event, message.msg_id) == ("event", "subscribe", "")
    assert message.dedup_key == "event:FromUser:123456789:subscribe"
    step = step_for(message)
    assert step.message == WELCOME_PAYLOAD == "/greet" and not step.typed


def test_unsubscribe_gets_no_reply() -> None:
    assert step_for(protocol.parse_message(UNSUBSCRIBE)) == Step()


def test_click_with_an_intent_key_sends_the_intent() -> None:
    message = protocol.parse_message(CLICK.replace(b"EVENTKEY", b"ask_sscard_apply"))
    assert (message.event, message.event_key) == ("CLICK", "ask_sscard_apply")
    assert step_for(message).message == "/ask_sscard_apply"


@pytest.mark.parametrize("key", ["EVENTKEY", 'ask_sscard_apply{"x":1}', "ask-sscard", "", "/greet", "ask sscard"])
def test_click_with_any_other_key_gets_the_prompt(key: str) -> None:
    message = protocol.parse_message(CLICK.replace(b"EVENTKEY", key.encode()))
    assert step_for(message) == Step(reply=NON_TEXT_PROMPT)


@pytest.mark.parametrize("body", [VIEW, LOCATION_EVENT, SCANCODE_PUSH])
def test_other_events_get_no_reply(body: bytes) -> None:
    message = protocol.parse_message(body)
    assert message.msg_type == "event" and step_for(message) == Step()


def test_nested_fields_are_flattened() -> None:
    message = protocol.parse_message(SCANCODE_PUSH)
    assert (message.get("ScanType"), message.get("ScanResult")) == ("qrcode", "1")


def test_unknown_type_never_raises() -> None:
    message = protocol.parse_message(TEXT.replace(b"[text]", b"[hologram]"))
    assert step_for(message) == Step(reply=NON_TEXT_PROMPT)


def test_empty_text_gets_the_prompt() -> None:
    message = protocol.parse_message(TEXT.replace(b"this is a test", b"   "))
    assert step_for(message) == Step(reply=NON_TEXT_PROMPT)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType><Content>&lol3;</Content></xml>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><FromUserName>b</FromUserName><MsgType>text</MsgType><Content>&xxe;</Content></xml>"""
BARE_DTD = b"""<?xml version="1.0"?><!DOCTYPE xml><xml><FromUserName>b</FromUserName><MsgType>text</MsgType></xml>"""


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        BARE_DTD,
        b"",
        b"not xml",
        b"<xml><Content>unclosed</xml>",
        b"<notxml><MsgType>text</MsgType></notxml>",
        b"<xml><FromUserName>a</FromUserName></xml>",  # no MsgType
        b"<xml><MsgType>text</MsgType></xml>",  # no FromUserName
        TEXT.replace(b"this is a test", b"x" * (protocol.MAX_BODY_BYTES + 1)),
        "<xml>\udcff</xml>".encode("utf-8", "surrogatepass"),
    ],
)
def test_hostile_or_broken_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(protocol.MalformedMessage):
        protocol.parse_message(body)
