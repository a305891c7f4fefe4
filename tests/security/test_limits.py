"""Per-sender rate limits with a polite message, and request size limits, on REST, WeChat and the chat page.
The stack allows RATE_LIMIT messages per RATE_WINDOW seconds per sender (fixed windows) and REQUEST_MAX_BYTES."""

from __future__ import annotations

import uuid

import requests

from tests.channels.conftest import new_msg_id, new_openid, text_xml
from tests.faults.stack import CLIENT_TIMEOUT, IP_RATE_LIMIT, RATE_LIMIT, REQUEST_MAX_BYTES, Stack, fresh_window, sender

POLITE = "您发送得太快了，请稍后再试"


def test_rest_limits_one_sender_not_the_others(stack: Stack) -> None:
    fresh_window()
    who = sender("flood")
    responses = [stack.say(who, "/greet") for _ in range(RATE_LIMIT + 1)]
    assert [r.status_code for r in responses] == [200] * RATE_LIMIT + [429]
    limited = responses[-1]
    assert limited.json() == [{"recipient_id": who, "text": limited.json()[0]["text"]}]
    assert POLITE in limited.json()[0]["text"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 20
    assert stack.say(sender("calm"), "/greet").status_code == 200
    user_turns = [e for e in stack.events(who) if e["event"] == "user"]
    assert len(user_turns) == RATE_LIMIT  # the refused message started no turn


def test_wechat_limits_one_openid_and_retries_do_not_count(stack: Stack) -> None:
    fresh_window()
    client, openid = stack.wechat(), new_openid()
    first = text_xml(openid, "/greet", new_msg_id())
    replies = [client.post(first, mode="raw", timeout=CLIENT_TIMEOUT + 5)]
    replies.append(client.post(first, mode="raw", timeout=CLIENT_TIMEOUT + 5))  # a retry of the same message
    for _ in range(RATE_LIMIT - 1):
        replies.append(client.post(text_xml(openid, "你好", new_msg_id()), mode="raw", timeout=CLIENT_TIMEOUT + 5))
    assert all(r.status == 200 and POLITE not in r.content for r in replies), [r.content for r in replies]
    limited = client.post(text_xml(openid, "你好", new_msg_id()), mode="raw", timeout=CLIENT_TIMEOUT + 5)
    assert limited.status == 200 and POLITE in limited.content  # WeChat shows a passive reply, not a status


def test_chat_page_limits_a_conversation(stack: Stack) -> None:
    fresh_window()
    browser = requests.Session()
    headers = {"X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250}"}
    statuses = []
    for _ in range(RATE_LIMIT + 1):
        response = browser.post(f"{stack.web_url}/api/message", json={"message": "你好"}, headers=headers, timeout=30)
        statuses.append(response.status_code)
    assert statuses == [200] * RATE_LIMIT + [429]
    assert response.json()["code"] == "rate_limited" and POLITE in response.json()["error"]
    assert int(response.headers["Retry-After"]) >= 1


def test_chat_page_limits_a_client_address_that_drops_its_cookie(stack: Stack) -> None:
    fresh_window(room=15)
    address = {"X-Forwarded-For": "203.0.113.7"}  # the trusted proxy (WEB_PROXIES_COUNT=1) says who it is
    statuses = [
        requests.post(f"{stack.web_url}/api/message", json={"message": "/greet"}, headers=address, timeout=30)
        for _ in range(IP_RATE_LIMIT + 1)
    ]
    assert [r.status_code for r in statuses] == [200] * IP_RATE_LIMIT + [429]
    other = {"X-Forwarded-For": "203.0.113.8"}
    assert requests.post(f"{stack.web_url}/api/message", json={"message": "你好"}, headers=other, timeout=30).ok


def test_rest_body_size_limits(stack: Stack) -> None:
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    over_channel = b'{"sender": "big", "message": "' + b"a" * (70 * 1024) + b'"}'
    response = requests.post(url, data=over_channel, timeout=CLIENT_TIMEOUT)
    assert response.status_code == 413 and "error" in response.json()
    over_server = b"x" * (REQUEST_MAX_BYTES + 1024)
    response = requests.post(url, data=over_server, timeout=CLIENT_TIMEOUT)
    assert response.status_code == 413
    assert stack.say(sender(), "/greet").status_code == 200  # and the server is fine


def test_a_too_long_message_gets_a_polite_answer_without_a_turn(stack: Stack) -> None:
    who = sender()
    response = stack.say(who, "社保卡" * 700)
    assert response.status_code == 200
    assert "2000字以内" in response.json()[0]["text"]
    assert not [e for e in stack.events(who) if e["event"] == "user"]


def test_wechat_and_chat_page_body_size_limits(stack: Stack) -> None:
    client = stack.wechat()
    huge = text_xml(new_openid(), "井" * 30_000, new_msg_id())  # 90 KB of UTF-8
    assert client.post(huge, mode="raw", timeout=CLIENT_TIMEOUT).status == 413
    response = requests.post(f"{stack.web_url}/api/message", json={"message": "a" * 70_000}, timeout=CLIENT_TIMEOUT)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
