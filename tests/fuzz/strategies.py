"""Hypothesis strategies for hostile request bodies: random Unicode, control characters, invalid JSON and XML,
entity bombs, deep nesting, wrong content types and oversized bodies."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=True)

CONTROL = "".join(chr(c) for c in range(32)) + "\x7f\u200b\u202e\ufeff\ufffe\uffff"
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),  # any Unicode scalar value, CJK and emoji included
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
        st.sampled_from(CONTROL),
        st.sampled_from("社保卡咋办井盖电梯困人俺恁中不中<>&]]>\"'/{}\\"),
    ),
    max_size=120,
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), hostile_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=8,
)
long_text = st.tuples(hostile_text, st.integers(1800, 2300)).map(lambda pair: ((pair[0] or "长") * 2300)[: pair[1]])


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode("ascii")  # ensure_ascii carries lone surrogates as \ud800


rest_objects = st.fixed_dictionaries(
    {},
    optional={
        "sender": st.one_of(hostile_text, json_scalars, long_text.map(lambda text: text[:300])),
        "message": st.one_of(hostile_text, json_values, long_text),
        "input_channel": json_scalars,
        "metadata": json_values,
    },
)
deep_nesting = st.integers(min_value=1, max_value=60_000).map(lambda n: b"[" * n + b"]" * (n % 7))
json_bodies = st.one_of(
    rest_objects.map(_dumps),
    json_values.map(_dumps),
    st.binary(max_size=2000),
    hostile_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    deep_nesting,
    st.sampled_from([b"", b"{", b'{"sender": "a", "message": "', b"null", b"[]", b"\xff\xfe{}", b'{"a":1}' * 3]),
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded",
            "text/xml",
            "text/plain; charset=gbk",
            "multipart/form-data; boundary=x",
            "",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
)

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    b'<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><MsgType>text</MsgType>"
    b"<Content>&lol4;</Content><MsgId>1</MsgId></xml>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><Content>&e;</Content></xml>"
)
QUADRATIC_BLOWUP = (
    b'<!DOCTYPE x [<!ENTITY a "' + b"A" * 5000 + b'">]><xml><Content>' + b"&a;" * 500 + b"</Content></xml>"
)


def _cdata_or_text(text: str) -> str:
    return f"<![CDATA[{text}]]>"


def _element(tag: str, text: str) -> str:
    return f"<{tag}>{text}</{tag}>"


xml_tags = st.one_of(
    st.sampled_from(
        ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "EventKey", "Encrypt"]
    ),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
)
xml_values = st.one_of(hostile_text, hostile_text.map(_cdata_or_text), st.sampled_from(["text", "event", "image"]))
xml_messages = st.lists(st.tuples(xml_tags, xml_values), max_size=8).map(
    lambda fields: "<xml>" + "".join(_element(tag, value) for tag, value in fields) + "</xml>"
)
xml_bodies = st.one_of(
    xml_messages.map(lambda xml: xml.encode("utf-8", "surrogatepass")),
    st.binary(max_size=3000),
    hostile_text.map(lambda text: f"<xml>{text}</xml>".encode("utf-8", "surrogatepass")),
    st.sampled_from([BILLION_LAUGHS, EXTERNAL_ENTITY, QUADRATIC_BLOWUP, b"", b"<xml>", b"<xml/>", b"<a></a>"]),
    st.integers(min_value=1, max_value=20_000).map(lambda n: b"<xml>" + b"<a>" * n + b"</xml>"),
)
