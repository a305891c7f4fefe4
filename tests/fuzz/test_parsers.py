"""In-process fuzzing of every parsing layer a stranger's bytes reach: more than 10,000 generated inputs in all.

Each property says what a parser may do with hostile input: return a well-formed value, or raise its own 4xx
error type — never anything else (which would be a 500), and never return text that breaks the next layer.
"""

from __future__ import annotations

import base64
import re

import defusedxml.ElementTree as SafeElementTree
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels import wechat_protocol as protocol
from bot.channels.rest import MAX_MESSAGE_CHARS, MAX_SENDER_CHARS, BadPayload, parse_payload
from bot.channels.wechat import MAX_INPUT_CHARS, step_for
from bot.privacy import mask
from bot.web.app import ERRORS, message_text
from bot.web.app import MAX_MESSAGE_CHARS as WEB_MAX_CHARS
from tests.fuzz.strategies import FUZZ, content_types, hostile_text, json_bodies, xml_bodies

EXAMPLES = {"rest": 3000, "wechat": 3000, "wechat_reply": 1200, "wechat_crypto": 1000, "web": 2000}
FORBIDDEN_IN_MESSAGE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"  # the format of WeChat's sample EncodingAESKey


def test_the_budget_is_over_ten_thousand_inputs() -> None:
    assert sum(EXAMPLES.values()) >= 10_000


@settings(FUZZ, max_examples=EXAMPLES["rest"])
@given(body=json_bodies)
def test_rest_payload_parser(body: bytes) -> None:
    try:
        payload = parse_payload(body)
    except BadPayload as refused:
        assert refused.status in (400, 413)
        return
    assert 1 <= len(payload.sender) <= MAX_SENDER_CHARS
    assert not re.search("[\x00-\x1f\x7f]", payload.sender)
    assert len(payload.message) <= MAX_MESSAGE_CHARS
    assert not FORBIDDEN_IN_MESSAGE.search(payload.message)
    payload.message.encode("utf-8")  # storable: no lone surrogates
    assert isinstance(mask(payload.message), str)


@settings(FUZZ, max_examples=EXAMPLES["wechat"])
@given(body=xml_bodies)
def test_wechat_message_parser(body: bytes) -> None:
    try:
        message = protocol.parse_message(body)
    except protocol.ProtocolError:
        return
    assert message.msg_type and message.from_user
    step = step_for(message)
    assert len(step.message) <= max(MAX_INPUT_CHARS, 64)
    assert not step.message.startswith("/") or step.message[1:].replace("_", "").isalpha()  # only menu intents


@settings(FUZZ, max_examples=EXAMPLES["wechat_reply"])
@given(to_user=hostile_text, content=hostile_text)
def test_wechat_reply_is_always_well_formed_xml(to_user: str, content: str) -> None:
    reply = protocol.render_text_reply(to_user, "gh_zmd", content, 1_700_000_000)
    root = SafeElementTree.fromstring(reply.encode("utf-8", "replace"))
    assert root.tag == "xml" and root.findtext("MsgType") == "text"
    for piece in protocol.split_text(content):
        assert len(piece.encode("utf-8", "replace")) <= protocol.MAX_TEXT_BYTES


@settings(FUZZ, max_examples=EXAMPLES["wechat_crypto"])
@given(encrypted=st.one_of(hostile_text, st.binary(max_size=400).map(base64.b64encode)))
def test_wechat_decrypt_refuses_garbage(encrypted: str | bytes) -> None:
    text = encrypted.decode("ascii") if isinstance(encrypted, bytes) else encrypted
    try:
        protocol.decrypt(AES_KEY, text, "wx2c2769f8efd9abc2")
    except protocol.CryptoError:
        return
    raise AssertionError("random bytes decrypted to a message for our AppID")


@settings(FUZZ, max_examples=EXAMPLES["web"])
@given(content_type=content_types, body=json_bodies)
def test_chat_page_message_parser(content_type: str, body: bytes) -> None:
    text, problem = message_text(content_type, body)
    if problem:
        assert problem in ERRORS and text == ""
        return
    assert 1 <= len(text) <= WEB_MAX_CHARS and text == text.strip()
