"""Fuzzing the live servers over HTTP: REST, WeChat and the chat page API get generated hostile requests (over
10,000 to the REST and WeChat endpoints together); no answer is ever a 5xx, every server stays up, no traceback
reaches the logs, and resident memory stays bounded. test_parsers.py fuzzes the parsing layers in-process too."""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.channels.conftest import wechat_sign
from tests.faults.stack import CLIENT_TIMEOUT, REQUEST_MAX_BYTES, WECHAT_TOKEN, Stack, sender
from tests.fuzz.strategies import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    FUZZ,
    QUADRATIC_BLOWUP,
    content_types,
    hostile_text,
    json_bodies,
    xml_bodies,
)

HTTP_EXAMPLES = {"rest": 5000, "wechat": 5200, "web": 500}  # generated per endpoint (a few cannot be sent)
# Memory: every cache on the way is bounded (the store's conversations, rate-limit counters, WeChat dedup, the
# normaliser's characters), so growth must level off. Sampled every SAMPLE_EVERY requests to an endpoint: the
# second half of an endpoint's fuzzing may add at most LATE_GROWTH_LIMIT_KB (measured: 1-22 MB for Rasa, while the
# first half fills the caches), the whole module at most RSS_GROWTH_LIMIT_KB (measured: 90-210 MB for Rasa).
RSS_GROWTH_LIMIT_KB = {"rasa": 300 * 1024, "web": 60 * 1024}
LATE_GROWTH_LIMIT_KB = {"rasa": 40 * 1024, "web": 20 * 1024}
SAMPLE_EVERY = 500
rss_samples: dict[str, list[dict[str, int]]] = {"start": [], "rest": [], "wechat": [], "web": [], "end": []}
sent = dict.fromkeys(HTTP_EXAMPLES, 0)
ALLOWED = {200, 400, 403, 404, 405, 413, 429}


@pytest.fixture(scope="module")
def watched(stack: Stack) -> Iterator[Stack]:
    """Warm the servers up, note their memory and logs, and check both after this module's fuzzing."""
    for number in range(30):
        stack.say(sender("warm"), f"社保卡咋办 {number}")
        requests.post(f"{stack.web_url}/api/message", json={"message": "你好"}, timeout=CLIENT_TIMEOUT)
    rss_samples["start"].append({name: stack.rss_kb(name) for name in RSS_GROWTH_LIMIT_KB})
    offsets = {name: stack.log(name).stat().st_size for name in ("rasa", "web", "actions")}
    yield stack
    rss_samples["end"].append({name: stack.rss_kb(name) for name in RSS_GROWTH_LIMIT_KB})
    print(f"requests sent: {sent}")
    assert sent["rest"] + sent["wechat"] >= 10_000, sent
    for name, limit in RSS_GROWTH_LIMIT_KB.items():
        grown = rss_samples["end"][0][name] - rss_samples["start"][0][name]
        assert grown < limit, f"{name} grew by {grown // 1024} MB during the HTTP fuzzing"
        for endpoint in ("rest", "wechat"):
            samples = [sample[name] for sample in rss_samples[endpoint]]
            print(f"RSS of {name} (MB) every {SAMPLE_EVERY} {endpoint} requests: {[kb // 1024 for kb in samples]}")
            late = samples[-1] - samples[len(samples) // 2]
            assert late < LATE_GROWTH_LIMIT_KB[name], f"{name} still growing at the end of {endpoint}: {late} kB"
    for name, offset in offsets.items():
        with stack.log(name).open("rb") as log:
            log.seek(offset)
            assert b"Traceback" not in log.read(), f"a traceback in the {name} log during fuzzing"
    assert requests.get(f"{stack.rasa_url}/", timeout=10).ok and requests.get(f"{stack.web_url}/healthz", timeout=10).ok


def _sent(stack: Stack, endpoint: str) -> None:
    """Count a fuzzing request to `endpoint`; note the servers' memory every SAMPLE_EVERY of them."""
    sent[endpoint] += 1
    if sent[endpoint] % SAMPLE_EVERY == 0:
        rss_samples[endpoint].append({name: stack.rss_kb(name) for name in RSS_GROWTH_LIMIT_KB})


def _headers(content_type: str) -> dict[str, str]:
    """A Content-Type header as a client can send it (requests refuses leading whitespace and line breaks)."""
    content_type = content_type.strip()
    return {"Content-Type": content_type} if content_type else {}


def _xff() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@settings(FUZZ, max_examples=HTTP_EXAMPLES["rest"])
@given(body=json_bodies, content_type=content_types, valid=st.booleans(), text=hostile_text)
def test_rest_webhook(watched: Stack, body: bytes, content_type: str, valid: bool, text: str) -> None:
    if valid:  # half are well-formed, so the fuzz reaches NLU, the policies and the tracker store too
        body = json.dumps({"sender": sender("fuzz"), "message": text}).encode()
    headers = _headers(content_type)
    url = f"{watched.rasa_url}/webhooks/rest/webhook"
    response = requests.post(url, data=body, headers=headers, timeout=CLIENT_TIMEOUT)
    _sent(watched, "rest")
    assert response.status_code in ALLOWED, (response.status_code, response.text[:300])
    if response.status_code == 200:
        reply = response.json()
        assert isinstance(reply, list) and all(isinstance(m, dict) for m in reply)
        if valid and text.strip():
            assert reply, "a resident's message got no answer"


def _signed(token: str = WECHAT_TOKEN) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), str(random.randrange(10**12))
    return {"signature": wechat_sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


@settings(FUZZ, max_examples=HTTP_EXAMPLES["wechat"])
@given(
    body=xml_bodies,
    content_type=content_types,
    signed=st.booleans(),
    params=st.dictionaries(hostile_text, hostile_text, max_size=3),
)
def test_wechat_webhook(watched: Stack, body: bytes, content_type: str, signed: bool, params: dict[str, str]) -> None:
    query = {**params, **(_signed() if signed else {})}
    headers = _headers(content_type)
    try:
        response = requests.post(
            watched.wechat_url, params=query, data=body, headers=headers, timeout=CLIENT_TIMEOUT + 5
        )
    except UnicodeEncodeError:
        return  # requests itself cannot put a lone surrogate into a URL
    _sent(watched, "wechat")
    assert response.status_code in ALLOWED, (response.status_code, response.text[:300])
    if not signed:
        assert response.status_code == 403


@settings(FUZZ, max_examples=HTTP_EXAMPLES["web"])
@given(body=json_bodies, content_type=content_types, path=st.sampled_from(["message", "feedback", "history"]))
def test_chat_page_api(watched: Stack, body: bytes, content_type: str, path: str) -> None:
    headers = {"X-Forwarded-For": _xff(), **_headers(content_type)}
    method = "GET" if path == "history" else "POST"
    cookies = {"zmd_chat": body[:150].decode("latin-1")} if path == "history" else None
    try:
        response = requests.request(
            method, f"{watched.web_url}/api/{path}", data=body, headers=headers, cookies=cookies, timeout=30
        )
    except (UnicodeEncodeError, ValueError):
        return  # not representable as an HTTP header by requests
    _sent(watched, "web")
    assert response.status_code in ALLOWED, (response.status_code, response.text[:300])
    assert isinstance(response.json(), dict)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, QUADRATIC_BLOWUP], ids=["laughs", "xxe", "blowup"])
def test_wechat_entity_attacks_are_refused(watched: Stack, body: bytes) -> None:
    response = requests.post(watched.wechat_url, params=_signed(), data=body, timeout=CLIENT_TIMEOUT)
    assert response.status_code == 400
    assert "root:" not in response.text


def refused(url: str, data: bytes | Iterator[bytes]) -> bool:
    """413, or the server closing the connection mid-upload: either way the body was not taken."""
    try:
        return requests.post(url, data=data, timeout=CLIENT_TIMEOUT).status_code == 413
    except requests.ConnectionError:
        return True


def chunks(total: int) -> Iterator[bytes]:
    """A body without Content-Length (chunked): the server must count as it reads."""
    for _ in range(total // 16384 + 1):
        yield b"x" * 16384


@pytest.mark.parametrize("where", ["rest", "wechat", "web"])
def test_huge_and_endless_bodies_are_cut_off(watched: Stack, where: str) -> None:
    urls = {
        "rest": f"{watched.rasa_url}/webhooks/rest/webhook",
        "wechat": f"{watched.wechat_url}?" + "&".join(f"{k}={v}" for k, v in _signed().items()),
        "web": f"{watched.web_url}/api/message",
    }
    assert refused(urls[where], b"{" * (4 * REQUEST_MAX_BYTES))
    assert refused(urls[where], chunks(4 * REQUEST_MAX_BYTES))
    assert watched.say(sender(), "你好").status_code == 200


def test_slowloris_style_partial_request_does_not_block_others(watched: Stack) -> None:
    port = int(watched.rasa_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as hanging:
        hanging.sendall(b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        assert watched.say(sender(), "你好").status_code == 200
