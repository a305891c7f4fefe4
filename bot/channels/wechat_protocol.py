"""WeChat official account (公众号) message protocol as small pure functions.

- Signatures: 接入指南 https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
- Messages: 接收普通消息 / 接收事件推送 / 被动回复用户消息
  https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
- Safe mode (安全模式/兼容模式): 消息加解密说明
  https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html

Nothing here does I/O, logs or reads the environment.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException

MAX_BODY_BYTES = 64 * 1024  # WeChat's own messages are a few KB; anything bigger is not from WeChat
MAX_TEXT_BYTES = 2048  # 被动回复文本 Content: at most 2048 bytes (UTF-8); the 客服消息 text is held to the same
TIMESTAMP_WINDOW = 300  # seconds a signed request stays acceptable
PKCS7_BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16
SUCCESS = "success"  # the reply that means "nothing to say" (WeChat neither retries nor shows anything)

_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # and lone surrogates
_SENTENCE_END = "。！？!?；;…\n"
_CLAUSE_END = "，,、：: "


class ProtocolError(ValueError):
    """A request that does not follow the protocol: answered with a 4xx, never a 500."""


class MalformedMessage(ProtocolError):
    """The body is not a WeChat message XML (too big, not XML, a DTD or entity, no MsgType)."""


class CryptoError(ProtocolError):
    """Safe-mode payload that does not decrypt, has bad padding or belongs to another AppID."""


# --- signatures -------------------------------------------------------------------------------------------------


def sha1_signature(*parts: str) -> str:
    """SHA-1 hex over the parts sorted and joined (the `signature` and `msg_signature` algorithm)."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's algorithm


def check_signature(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """The URL `signature`: SHA-1 over sorted [token, timestamp, nonce], compared in constant time."""
    if not (token and signature):
        return False
    return hmac.compare_digest(sha1_signature(token, timestamp, nonce).encode(), signature.encode("utf-8"))


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The safe-mode `msg_signature`: SHA-1 over sorted [token, timestamp, nonce, Encrypt]."""
    return sha1_signature(token, timestamp, nonce, encrypt)


def check_msg_signature(token: str, signature: str, timestamp: str, nonce: str, encrypt: str) -> bool:
    if not (token and signature):
        return False
    expected = msg_signature(token, timestamp, nonce, encrypt).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8"))


def is_fresh(timestamp: str, now: float, window: int = TIMESTAMP_WINDOW) -> bool:
    """True when `timestamp` (Unix seconds, as WeChat sends it) is within `window` seconds of `now`."""
    if not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(now - int(timestamp)) <= window


# --- parsing ----------------------------------------------------------------------------------------------------


def parse_xml(body: bytes) -> dict[str, str]:
    """The children of `<xml>` as {tag: text}; nested elements (e.g. ScanCodeInfo) add their own children.

    Refuses bodies over MAX_BODY_BYTES, any DTD (so no entity bombs or external entities) and non-XML.
    """
    if len(body) > MAX_BODY_BYTES:
        raise MalformedMessage(f"body of {len(body)} bytes is over the {MAX_BODY_BYTES}-byte limit")
    try:
        root = SafeElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as error:
        raise MalformedMessage(f"not a WeChat message XML: {type(error).__name__}") from error
    if root.tag != "xml":
        raise MalformedMessage(f"root element is <{root.tag}>, expected <xml>")
    fields: dict[str, str] = {}
    _collect(root, fields)
    return fields


def _collect(element: Element, fields: dict[str, str]) -> None:
    for child in element:
        if len(child):
            _collect(child, fields)
        else:
            fields.setdefault(child.tag, (child.text or "").strip())


@dataclass(frozen=True)
class InboundMessage:
    """One message or event pushed by WeChat. `fields` holds every field; the common ones have names."""

    to_user: str
    from_user: str
    create_time: str
    msg_type: str
    msg_id: str = ""
    event: str = ""
    event_key: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    @property
    def dedup_key(self) -> str:
        """MsgId for messages; FromUserName + CreateTime + Event for events (they have no MsgId)."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"event:{self.from_user}:{self.create_time}:{self.event}"


def message_from_fields(fields: Mapping[str, str]) -> InboundMessage:
    msg_type = fields.get("MsgType", "").lower()
    if not msg_type or not fields.get("FromUserName"):
        raise MalformedMessage("message XML lacks MsgType or FromUserName")
    return InboundMessage(
        to_user=fields.get("ToUserName", ""),
        from_user=fields["FromUserName"],
        create_time=fields.get("CreateTime", ""),
        msg_type=msg_type,
        msg_id=fields.get("MsgId", "") or fields.get("MsgID", ""),
        event=fields.get("Event", ""),
        event_key=fields.get("EventKey", ""),
        fields=dict(fields),
    )


def parse_message(body: bytes) -> InboundMessage:
    """A plaintext message body → InboundMessage (raises MalformedMessage)."""
    return message_from_fields(parse_xml(body))


# --- safe mode (AES-256-CBC) ------------------------------------------------------------------------------------


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key: base64-decode the 43-character EncodingAESKey plus '='."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as error:
        raise CryptoError("EncodingAESKey is not base64: check WECHAT_AES_KEY (43 characters)") from error
    if len(encoding_aes_key) != 43 or len(key) != 32:
        raise CryptoError("EncodingAESKey must be 43 characters (a 32-byte key): check WECHAT_AES_KEY")
    return key


def pkcs7_pad(data: bytes, block: int = PKCS7_BLOCK) -> bytes:
    amount = block - len(data) % block
    return data + bytes([amount]) * amount


def pkcs7_unpad(data: bytes, block: int = PKCS7_BLOCK) -> bytes:
    if not data:
        raise CryptoError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= block or amount > len(data) or data[-amount:] != bytes([amount]) * amount:
        raise CryptoError("bad PKCS#7 padding")
    return data[:-amount]


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(encoding_aes_key: str, plaintext: bytes, app_id: str, random16: bytes | None = None) -> str:
    """Base64 of AES-CBC(random(16) + len(msg) as 4 bytes big-endian + msg + AppID), IV = key[:16]."""
    key = aes_key(encoding_aes_key)
    prefix = random16 if random16 is not None else secrets.token_bytes(16)
    payload = pkcs7_pad(prefix + struct.pack(">I", len(plaintext)) + plaintext + app_id.encode("utf-8"))
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(payload) + encryptor.finalize()).decode("ascii")


def decrypt(encoding_aes_key: str, encrypted: str, app_id: str) -> bytes:
    """The message inside a safe-mode `Encrypt` value; raises CryptoError unless it is for `app_id`."""
    key = aes_key(encoding_aes_key)
    try:
        data = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as error:
        raise CryptoError("Encrypt is not base64") from error
    if not data or len(data) % 16:
        raise CryptoError("Encrypt is not a whole number of AES blocks")
    decryptor = _cipher(key).decryptor()
    plain = pkcs7_unpad(decryptor.update(data) + decryptor.finalize())
    if len(plain) < 20:
        raise CryptoError("decrypted payload too short")
    (length,) = struct.unpack(">I", plain[16:20])
    message, received_app_id = plain[20 : 20 + length], plain[20 + length :]
    if len(message) != length or not hmac.compare_digest(received_app_id, app_id.encode("utf-8")):
        raise CryptoError("payload is for another AppID (check WECHAT_APPID) or is truncated")
    return message


# --- replies ----------------------------------------------------------------------------------------------------


def cdata(text: str) -> str:
    """A CDATA section holding `text` whatever it contains: `]]>` is split across two sections, and characters
    XML 1.0 cannot carry at all are dropped."""
    clean = _INVALID_XML_CHARS.sub("", text)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text_reply(to_user: str, from_user: str, content: str, create_time: int) -> str:
    """被动回复文本消息: `to_user` is the resident's OpenID, `from_user` the account's id (the message's ToUserName)."""
    return (
        "<xml>"
        f"<ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content>"
        "</xml>"
    )


def render_encrypted_reply(token: str, encrypted: str, timestamp: str, nonce: str) -> str:
    """The safe-mode envelope around an encrypted reply, signed with msg_signature."""
    signature = msg_signature(token, timestamp, nonce, encrypted)
    return (
        "<xml>"
        f"<Encrypt>{cdata(encrypted)}</Encrypt>"
        f"<MsgSignature>{cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{int(timestamp)}</TimeStamp>"
        f"<Nonce>{cdata(nonce)}</Nonce>"
        "</xml>"
    )


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, limit: int) -> int:
    """Index where the first piece of `text` (at most `limit` UTF-8 bytes) should end."""
    fits = len(text.encode("utf-8")[:limit].decode("utf-8", errors="ignore"))
    for breaks in (_SENTENCE_END, _CLAUSE_END):
        best = max(text.rfind(char, 0, fits) for char in breaks)
        if best >= fits // 3:  # a break in the last two thirds; else the pieces get silly
            return best + 1
    return max(fits, 1)


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes, cut after a sentence end where possible, else a clause, else
    anywhere between characters."""
    pieces: list[str] = []
    rest = text.encode("utf-8", "replace").decode("utf-8").strip()  # a lone surrogate becomes "?"
    while _utf8_len(rest) > limit:
        end = _cut(rest, limit)
        pieces.append(rest[:end].strip())
        rest = rest[end:].strip()
    if rest:
        pieces.append(rest)
    return [piece for piece in pieces if piece]


def render_bot_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[str]]:
    """Rasa's collected messages → one text and the payloads of its buttons.

    WeChat text messages cannot show buttons, so each button becomes a numbered line ("1. 社保卡怎么办"), numbered
    across the whole answer; the resident can reply with the number.
    """
    lines: list[str] = []
    payloads: list[str] = []
    for message in messages:
        for key in ("text", "image"):
            if message.get(key):
                lines.append(str(message[key]))
        for button in message.get("buttons") or []:
            if isinstance(button, Mapping) and button.get("title"):
                payloads.append(str(button.get("payload") or button["title"]))
                lines.append(f"{len(payloads)}. {button['title']}")
    return "\n".join(lines), payloads
