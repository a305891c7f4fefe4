"""Signatures, safe-mode crypto, reply rendering and splitting; the delivery client against a fake API."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import defusedxml.ElementTree as ET
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels import wechat_protocol as protocol
from bot.channels.wechat_delivery import CustomerServiceClient, DeliveryError
from tests.channels.conftest import APP_SECRET, FakeWeChatAPI, wechat_decrypt, wechat_encrypt

# Tencent's published sample for 消息加解密 (WXBizMsgCrypt demo, "测试解密接口").
DEMO_TOKEN = "spamtest"
DEMO_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DEMO_APPID = "wx2c2769f8efd9abc2"
DEMO_TIMESTAMP = "1409735669"
DEMO_NONCE = "1320562132"
DEMO_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
DEMO_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrX"
    "pbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzj"
    "lpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1B"
    "D1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
# The URL signature vector used by wechatpy's own tests (token "test").
URL_VECTOR = {"token": "test", "signature": "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "timestamp": "1410685589"}


def test_url_signature_vector() -> None:
    v = URL_VECTOR
    assert protocol.check_signature(v["token"], v["signature"], v["timestamp"], "test")
    assert not protocol.check_signature(v["token"], v["signature"], v["timestamp"], "tesu")
    assert not protocol.check_signature("test2", v["signature"], v["timestamp"], "test")
    assert not protocol.check_signature(v["token"], v["signature"].upper()[:-1] + "0", v["timestamp"], "test")


@pytest.mark.parametrize("signature", ["", "签名", "f" * 41, "\x00"])
def test_odd_signatures_are_false_not_errors(signature: str) -> None:
    assert protocol.check_signature("test", signature, "1410685589", "test") is False
    assert protocol.check_signature("", "", "", "") is False  # no token: nothing verifies


def test_official_msg_signature_and_decryption_vector() -> None:
    assert protocol.msg_signature(DEMO_TOKEN, DEMO_TIMESTAMP, DEMO_NONCE, DEMO_ENCRYPT) == DEMO_MSG_SIGNATURE
    assert protocol.check_msg_signature(DEMO_TOKEN, DEMO_MSG_SIGNATURE, DEMO_TIMESTAMP, DEMO_NONCE, DEMO_ENCRYPT)
    plain = protocol.decrypt(DEMO_AES_KEY, DEMO_ENCRYPT, DEMO_APPID)
    message = protocol.parse_message(plain)
    assert (message.from_user, message.to_user) == ("oyORnuP8q7ou2gfYjqLzSIWZf0rs", "gh_10f6c3c3ac5a")
    assert (message.msg_type, message.get("Content"), message.msg_id) == ("text", "abcdteT", "6054768590064713728")


def test_official_vector_for_another_app_id_is_refused() -> None:
    with pytest.raises(protocol.CryptoError):
        protocol.decrypt(DEMO_AES_KEY, DEMO_ENCRYPT, "wx0000000000000000")


def test_aes_key_is_the_decoded_encoding_aes_key() -> None:
    assert protocol.aes_key(DEMO_AES_KEY) == base64.b64decode(DEMO_AES_KEY + "=")
    for bad in ("short", DEMO_AES_KEY + "A", "!" * 43):
        with pytest.raises(protocol.CryptoError):
            protocol.aes_key(bad)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=3000), app_id=st.from_regex(r"wx[0-9a-f]{16}", fullmatch=True))
def test_encryption_round_trips_with_an_independent_implementation(text: str, app_id: str) -> None:
    plain = text.encode("utf-8")
    ours = protocol.encrypt(DEMO_AES_KEY, plain, app_id)
    assert wechat_decrypt(ours, DEMO_AES_KEY) == (plain, app_id.encode())
    theirs = wechat_encrypt(plain, DEMO_AES_KEY, app_id)
    assert protocol.decrypt(DEMO_AES_KEY, theirs, app_id) == plain
    assert len(base64.b64decode(ours)) % 32 == 0  # PKCS#7 to 32-byte blocks


def test_known_prefix_gives_known_ciphertext() -> None:
    once = protocol.encrypt(DEMO_AES_KEY, b"<xml/>", DEMO_APPID, random16=b"0123456789abcdef")
    again = protocol.encrypt(DEMO_AES_KEY, b"<xml/>", DEMO_APPID, random16=b"0123456789abcdef")
    assert once == again != protocol.encrypt(DEMO_AES_KEY, b"<xml/>", DEMO_APPID)


@pytest.mark.parametrize("encrypted", ["not base64!", base64.b64encode(b"x" * 15).decode(), "", "QUJD"])
def test_garbage_ciphertext_is_a_crypto_error(encrypted: str) -> None:
    with pytest.raises(protocol.CryptoError):
        protocol.decrypt(DEMO_AES_KEY, encrypted, DEMO_APPID)


def test_bad_padding_is_refused() -> None:
    assert protocol.pkcs7_unpad(protocol.pkcs7_pad(b"abc")) == b"abc"
    assert len(protocol.pkcs7_pad(b"a" * 32)) == 64  # a full block of padding when already aligned
    for bad in (b"a" * 31 + b"\x00", b"a" * 31 + b"\x21", b"a" * 30 + b"\x01\x02"):
        with pytest.raises(protocol.CryptoError):
            protocol.pkcs7_unpad(bad)


def test_freshness_window() -> None:
    assert protocol.is_fresh("1000", now=1300) and protocol.is_fresh("1600", now=1300)
    assert not protocol.is_fresh("999", now=1300) and not protocol.is_fresh("1601", now=1300)
    for bad in ("", "-5", "1e9", "12.5", "9" * 40):
        assert not protocol.is_fresh(bad, now=1300)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_reply_xml_stays_valid_whatever_the_text(text: str) -> None:
    xml = protocol.render_text_reply("oUser]]>", "gh_x", text, 1700000000)
    root = ET.fromstring(xml)
    expected = "".join(c for c in text if c in "\t\n\r" or not (c < " " or c in "\ufffe\uffff"))
    expected = expected.replace("\r\n", "\n").replace("\r", "\n")  # XML's own end-of-line handling
    assert root.findtext("Content") == expected
    assert root.findtext("ToUserName") == "oUser]]>"


def test_cdata_end_marker_is_split() -> None:
    xml = protocol.render_text_reply("o", "gh", "a]]><b>x</b>]]>", 1)
    assert "a]]]]><![CDATA[><b>" in xml
    assert ET.fromstring(xml).findtext("Content") == "a]]><b>x</b>]]>"


def test_encrypted_reply_envelope_verifies() -> None:
    encrypted = protocol.encrypt(DEMO_AES_KEY, b"<xml/>", DEMO_APPID)
    root = ET.fromstring(protocol.render_encrypted_reply(DEMO_TOKEN, encrypted, "1409735669", "n1"))
    assert root.findtext("Encrypt") == encrypted
    fields = [DEMO_TOKEN, "1409735669", "n1", encrypted]
    assert root.findtext("MsgSignature") == protocol.sha1_signature(*fields)


def test_split_prefers_sentence_ends_and_respects_the_byte_limit() -> None:
    text = "社保卡带身份证到银行网点办理。" * 200 + "最后一句"
    pieces = protocol.split_text(text)
    assert len(pieces) > 1 and "".join(pieces) == text
    assert all(len(p.encode()) <= protocol.MAX_TEXT_BYTES for p in pieces)
    assert all(p.endswith("。") for p in pieces[:-1])


@given(st.text(min_size=1, max_size=6000), st.integers(min_value=8, max_value=300))
def test_split_never_exceeds_the_limit_nor_loses_text(text: str, limit: int) -> None:
    pieces = protocol.split_text(text, limit)
    assert all(0 < len(p.encode()) <= limit for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())  # only whitespace at the cuts may go


def test_bot_messages_with_buttons_become_numbered_lines() -> None:
    messages = [
        {"text": "您好！"},
        {"text": "请选择：", "buttons": [{"title": "社保卡", "payload": "/ask_sscard_apply"}, {"title": "井盖"}]},
        {"buttons": [{"title": "对", "payload": "/affirm"}]},
    ]
    text, payloads = protocol.render_bot_messages(messages)
    assert text == "您好！\n请选择：\n1. 社保卡\n2. 井盖\n3. 对"
    assert payloads == ["/ask_sscard_apply", "井盖", "/affirm"]


# --- customer-service client ------------------------------------------------------------------------------------


def test_access_token_is_cached_and_fetched_once_under_concurrency(fresh_api: FakeWeChatAPI) -> None:
    client = CustomerServiceClient(fresh_api.base, "wxapp", APP_SECRET)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.send_text(f"o{i}", "你好"), range(8)))
    assert fresh_api.tokens_issued == 1
    assert len(fresh_api.sends()) == 8


def test_expired_token_is_refreshed_and_the_send_retried(fresh_api: FakeWeChatAPI) -> None:
    client = CustomerServiceClient(fresh_api.base, "wxapp", APP_SECRET)
    fresh_api.send_errors = [42001]
    client.send_text("o1", "你好")
    sends = fresh_api.sends()
    assert [s["query"]["access_token"] for s in sends] == ["ACCESS-1", "ACCESS-2"]


def test_retries_are_bounded(fresh_api: FakeWeChatAPI) -> None:
    client = CustomerServiceClient(fresh_api.base, "wxapp", APP_SECRET, max_retries=2)
    fresh_api.send_errors = [40001] * 10
    with pytest.raises(DeliveryError, match="40001"):
        client.send_text("o1", "你好")
    assert len(fresh_api.sends()) == 3
    assert fresh_api.force_refreshes == 1  # WeChat allows one forced refresh per 30 s (20 a day)


def token_calls(api: FakeWeChatAPI) -> list[dict[str, Any]]:
    return [c for c in api.calls if c["path"] in ("/cgi-bin/token", "/cgi-bin/stable_token")]


def test_instances_share_one_stable_token_and_never_invalidate_each_other(fresh_api: FakeWeChatAPI) -> None:
    """Two Rasa instances (two clients) of one official account. With getAccessToken each fetch would end the
    other's token (after 5 minutes; at once here, legacy_grace=0) and they would keep refreshing each other away;
    getStableAccessToken gives both the same token."""
    fresh_api.legacy_grace = 0
    first, second = (CustomerServiceClient(fresh_api.base, "wxapp", APP_SECRET) for _ in range(2))
    first.send_text("o1", "你好")
    second.send_text("o2", "你好")
    first.send_text("o3", "你好")
    second.send_text("o4", "你好")
    assert len(fresh_api.sends()) == 4  # no send was refused and retried
    assert fresh_api.tokens_issued == 1
    assert {s["query"]["access_token"] for s in fresh_api.sends()} == {"ACCESS-1"}
    calls = token_calls(fresh_api)
    assert len(calls) == 2  # one per instance, then each uses its cache
    for call in calls:
        assert (call["method"], call["path"]) == ("POST", "/cgi-bin/stable_token")
        assert call["json"] == {
            "grant_type": "client_credential",
            "appid": "wxapp",
            "secret": APP_SECRET,
            "force_refresh": False,
        }


def test_a_token_refreshed_elsewhere_is_picked_up_without_forcing(fresh_api: FakeWeChatAPI) -> None:
    client = CustomerServiceClient(fresh_api.base, "wxapp", APP_SECRET)
    client.send_text("o1", "你好")
    forced = requests.post(  # someone else (another system of the city) forces a new token
        f"{fresh_api.base}/cgi-bin/stable_token",
        json={"grant_type": "client_credential", "appid": "wxapp", "secret": APP_SECRET, "force_refresh": True},
        timeout=10,
    ).json()["access_token"]
    client.send_text("o2", "你好")  # 40001 with the old token, then the current one in normal mode
    assert [s["query"]["access_token"] for s in fresh_api.sends()] == ["ACCESS-1", "ACCESS-1", forced]
    assert fresh_api.force_refreshes == 1  # only the other party's


def test_other_errors_and_bad_secret_raise_with_advice(fresh_api: FakeWeChatAPI) -> None:
    fresh_api.send_errors = [45015]
    with pytest.raises(DeliveryError, match="48 hours"):
        CustomerServiceClient(fresh_api.base, "wxapp", APP_SECRET).send_text("oSecretOpenId", "你好")
    with pytest.raises(DeliveryError, match="WECHAT_APPSECRET"):
        CustomerServiceClient(fresh_api.base, "wxapp", "wrong").access_token()


def test_timeouts_are_set(fresh_api: FakeWeChatAPI) -> None:
    client = CustomerServiceClient(fresh_api.base, "wxapp", APP_SECRET)
    assert all(0 < t <= 30 for t in client.timeout)
    with pytest.raises(OSError):  # nothing listens on port 9: fails fast instead of hanging
        CustomerServiceClient("http://127.0.0.1:9", "wxapp", APP_SECRET, timeout=(0.5, 0.5)).access_token()


def test_delivery_error_does_not_contain_the_openid(fresh_api: FakeWeChatAPI) -> None:
    fresh_api.send_errors = [45047]
    with pytest.raises(DeliveryError) as raised:
        CustomerServiceClient(fresh_api.base, "wxapp", APP_SECRET).send_text("oSecretOpenId", "你好")
    assert "oSecretOpenId" not in str(raised.value)


def test_random_prefix_differs_each_time() -> None:
    assert len({protocol.encrypt(DEMO_AES_KEY, b"x", DEMO_APPID) for _ in range(5)}) == 5
