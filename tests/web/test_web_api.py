"""The chat page's JSON API, over HTTP against the real Rasa and action servers."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.web.app import conversation, reply_messages
from bot.web.sessions import COOKIE_MAX_AGE, COOKIE_NAME, SessionSigner, secret_key
from tests.web.conftest import Web, client_from, fresh_address


def post_message(web: Web, message: Any, cookies: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{web.url}/api/message", json={"message": message}, cookies=cookies, timeout=60)


def history(web: Web, cookies: dict[str, str] | None = None, **params: str) -> requests.Response:
    return requests.get(f"{web.url}/api/history", cookies=cookies, params=params, timeout=30)


def issued_id(web: Web, response: requests.Response) -> str:
    """The id in the response's Set-Cookie, checked against the app's key."""
    value = response.cookies.get(COOKIE_NAME)
    assert value, response.headers
    session_id = web.signer.verify(value)
    assert session_id, value
    return session_id


def user_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages if m["role"] == "user"]


def test_no_cookie_gets_a_new_server_issued_id(web: Web) -> None:
    first = post_message(web, "社保卡咋办")
    assert first.status_code == 200, first.text
    assert "市人社局" in "\n".join(m["text"] for m in first.json()["messages"])
    set_cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and f"Max-Age={COOKIE_MAX_AGE}" in set_cookie
    assert COOKIE_MAX_AGE >= 30 * 24 * 3600
    session_id = issued_id(web, first)
    assert len(session_id) >= 32
    # Rasa knows the conversation under exactly that id.
    assert any(e["event"] == "user" and e["text"] == "社保卡咋办" for e in web.tracker_events(session_id))
    # Another cookieless browser gets another conversation.
    assert issued_id(web, post_message(web, "你好")) != session_id


def test_the_cookie_keeps_the_conversation(web: Web) -> None:
    session_id = issued_id(web, post_message(web, "社保卡咋办"))
    again = history(web, web.cookie_for(session_id))
    assert again.status_code == 200
    messages = again.json()["messages"]
    assert user_texts(messages) == ["社保卡咋办"]
    assert messages[1]["role"] == "bot" and "市人社局" in messages[1]["text"]
    assert [m["index"] for m in messages] == list(range(len(messages)))
    assert issued_id(web, again) == session_id


@pytest.mark.parametrize(
    "forged",
    [
        "{id}",  # the bare id, no signature
        "{id}.",  # empty signature
        "{id}.{bad}",  # a signature made with another key
        "{id}x.{sig}",  # the id changed after signing
        "{id}.{sig}x",  # the signature changed
        "{id}.{sig}.{sig}",  # extra parts
    ],
)
def test_a_forged_or_tampered_cookie_is_rejected_and_replaced(web: Web, forged: str) -> None:
    victim = issued_id(web, post_message(web, "社保卡咋办"))
    signature = web.signer.sign(victim).rpartition(".")[2]
    bad = SessionSigner("a-different-secret-key").sign(victim).rpartition(".")[2]
    cookie = forged.format(id=victim, sig=signature, bad=bad)
    response = history(web, {COOKIE_NAME: cookie})
    assert response.status_code == 200
    assert response.json()["messages"] == []
    assert issued_id(web, response) != victim
    # Writing with the forged cookie does not reach the victim's conversation either.
    assert issued_id(web, post_message(web, "门口井盖没了", {COOKIE_NAME: cookie})) != victim
    assert "门口井盖没了" not in user_texts(conversation(web.tracker_events(victim)))


def test_cannot_read_another_conversation_by_naming_its_id(web: Web) -> None:
    alice = issued_id(web, post_message(web, "电梯老出毛病该找哪个部门管"))
    bob_cookie = web.cookie_for(issued_id(web, post_message(web, "社保卡咋办")))
    attempts = [
        requests.get(f"{web.url}/api/history", cookies=bob_cookie, params={"sender": alice, "id": alice}, timeout=30),
        requests.get(f"{web.url}/api/history", cookies=bob_cookie, headers={"X-Session-Id": alice}, timeout=30),
        requests.get(f"{web.url}/api/history", cookies={COOKIE_NAME: alice}, timeout=30),
    ]
    for response in attempts:
        assert response.status_code == 200
        assert "电梯老出毛病该找哪个部门管" not in user_texts(response.json()["messages"])
    # A sender in the body is ignored: the message lands in Bob's conversation, not Alice's.
    response = requests.post(
        f"{web.url}/api/message", json={"message": "你好", "sender": alice}, cookies=bob_cookie, timeout=60
    )
    assert response.status_code == 200
    assert user_texts(conversation(web.tracker_events(alice))) == ["电梯老出毛病该找哪个部门管"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"message": ""}, "empty"),
        ({"message": "   \n\t "}, "empty"),
        ({"message": "长" * 2001}, "too_long"),
        ({"message": 12345}, "bad_request"),
        ({"text": "社保卡咋办"}, "empty"),
        (["社保卡咋办"], "bad_request"),
    ],
)
def test_empty_or_oversized_input_is_a_polite_400(web: Web, body: Any, code: str) -> None:
    response = requests.post(f"{web.url}/api/message", json=body, timeout=30)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["code"] == code
    assert "请" in response.json()["error"]


def test_not_json_and_too_large_bodies_get_chinese_json_errors(web: Web) -> None:
    plain = requests.post(f"{web.url}/api/message", data="社保卡咋办".encode(), timeout=30)
    assert plain.status_code == 400 and plain.json()["code"] == "bad_request"
    huge = requests.post(f"{web.url}/api/message", json={"message": "长" * 40_000}, timeout=30)
    assert huge.status_code == 413 and "内容太多" in huge.json()["error"]
    missing = requests.get(f"{web.url}/api/nothing-here", timeout=30)
    assert missing.status_code == 404 and "没有找到" in missing.json()["error"]


def test_a_2000_character_message_is_accepted(web: Web) -> None:
    response = post_message(web, "社保卡咋办" + "。" * 1995)
    assert response.status_code == 200, response.text


def test_rasa_unreachable_is_a_503_with_12345(web_without_rasa: Web) -> None:
    cookie = web_without_rasa.cookie_for("someone-who-chatted-before")
    responses = [
        post_message(web_without_rasa, "社保卡咋办"),
        history(web_without_rasa, cookie),
        requests.post(
            f"{web_without_rasa.url}/api/feedback",
            json={"rating": "helpful", "message_index": 1},
            cookies=cookie,
            timeout=30,
        ),
    ]
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        body = response.json()
        assert "12345" in body["error"] and "Traceback" not in response.text
        assert body["code"] == "rasa_unavailable"


def test_feedback_becomes_a_slot_event_in_the_conversation_log(web: Web) -> None:
    session_id = issued_id(web, post_message(web, "社保卡咋办"))
    cookie = web.cookie_for(session_id)
    response = requests.post(
        f"{web.url}/api/feedback", json={"rating": "not_helpful", "message_index": 1}, cookies=cookie, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "谢谢您的反馈！"
    slots = [e for e in web.tracker_events(session_id) if e["event"] == "slot" and e["name"] == "feedback"]
    assert len(slots) == 1
    assert slots[0]["value"]["rating"] == "not_helpful" and slots[0]["value"]["message_index"] == 1
    assert slots[0]["value"]["at"].startswith("20")


def feedback_slots(web: Web, session_id: str) -> list[dict[str, Any]]:
    return [e for e in web.tracker_events(session_id) if e["event"] == "slot" and e["name"] == "feedback"]


def rate(web: Web, cookie: dict[str, str], rating: str, index: int, client: Any = requests) -> requests.Response:
    body = {"rating": rating, "message_index": index}
    return client.post(f"{web.url}/api/feedback", json=body, cookies=cookie, timeout=30)


def test_an_answer_is_rated_once_a_second_rating_is_refused(web: Web) -> None:
    client = client_from(fresh_address())
    session_id = issued_id(web, client.post(f"{web.url}/api/message", json={"message": "社保卡咋办"}, timeout=60))
    cookie = web.cookie_for(session_id)
    assert rate(web, cookie, "helpful", 1, client).status_code == 200
    again = rate(web, cookie, "not_helpful", 1, client)
    assert again.status_code == 409, again.text
    assert again.json() == {"code": "already_rated", "error": "您已经评价过这条回答了，谢谢！"}
    assert [slot["value"]["rating"] for slot in feedback_slots(web, session_id)] == ["helpful"]


def test_many_ratings_of_one_answer_at_once_count_once(web: Web) -> None:
    """The audit's attack: 35 ratings of one answer in 1.6 s were all counted in 有帮助率."""
    address = fresh_address()
    first = client_from(address).post(f"{web.url}/api/message", json={"message": "社保卡咋办"}, timeout=60)
    session_id = issued_id(web, first)
    cookie = web.cookie_for(session_id)
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(
            pool.map(lambda _: rate(web, cookie, "helpful", 1, client_from(address)).status_code, range(24))
        )
    assert sorted(statuses) == [200] + [409] * 23
    assert len(feedback_slots(web, session_id)) == 1


@pytest.mark.parametrize("path", ["/api/history", "/api/feedback"])
def test_history_and_feedback_are_rate_limited_per_conversation(web: Web, path: str) -> None:
    client = client_from(fresh_address())
    session_id = issued_id(web, client.post(f"{web.url}/api/message", json={"message": "社保卡咋办"}, timeout=60))
    cookie = web.cookie_for(session_id)

    def call() -> requests.Response:
        if path == "/api/history":
            return client.get(f"{web.url}{path}", cookies=cookie, timeout=30)
        return rate(web, cookie, "helpful", 1, client)

    statuses = []
    for _ in range(61):  # at most RATE_LIMIT_MESSAGES (30) a minute; fixed windows: a boundary may fall in between
        response = call()
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert response.status_code == 429 and 30 <= len(statuses) - 1 <= 60, statuses
    assert response.json()["code"] == "rate_limited" and "太快" in response.json()["error"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert len(feedback_slots(web, session_id)) == (1 if path == "/api/feedback" else 0)
    # Another conversation from another address is not affected.
    other = client_from(fresh_address()).get(f"{web.url}{path.replace('feedback', 'history')}", timeout=30)
    assert other.status_code == 200


def test_history_is_rate_limited_per_address_when_the_cookie_is_dropped(web: Web) -> None:
    client = client_from(fresh_address())
    statuses = []
    for _ in range(601):  # RATE_LIMIT_IP_MESSAGES (300) a minute per client address
        client.cookies.clear()  # a new conversation every time: only the address counts
        statuses.append(client.get(f"{web.url}/api/history", timeout=30).status_code)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429 and 300 <= len(statuses) - 1 <= 600
    assert set(statuses[:-1]) == {200}


@pytest.mark.parametrize(
    "body",
    [
        {"rating": "great", "message_index": 1},
        {"rating": "helpful", "message_index": -1},
        {"rating": "helpful", "message_index": "1"},
        {"rating": "helpful", "message_index": True},
        {"rating": "helpful", "message_index": 0},  # the resident's own message
        {"rating": "helpful", "message_index": 999},
    ],
)
def test_bad_feedback_is_a_400_and_not_logged(web: Web, body: dict[str, Any]) -> None:
    session_id = issued_id(web, post_message(web, "社保卡咋办"))
    response = requests.post(f"{web.url}/api/feedback", json=body, cookies=web.cookie_for(session_id), timeout=30)
    assert response.status_code == 400
    assert "请" in response.json()["error"]
    assert not [e for e in web.tracker_events(session_id) if e["event"] == "slot" and e["name"] == "feedback"]


def test_health_and_security_headers(web: Web) -> None:
    response = requests.get(f"{web.url}/healthz", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    page = requests.get(web.url, timeout=10)
    assert page.status_code == 200 and "驻马店市民助手" in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "http://" not in page.text.replace(web.url, "") and "https://" not in page.text  # no CDN


# Pure parts, no servers.


def test_signer_round_trip_and_rejections() -> None:
    signer = SessionSigner("k" * 32)
    session_id = signer.new_id()
    assert signer.verify(signer.sign(session_id)) == session_id
    assert signer.session(signer.sign(session_id)).new is False
    assert signer.session(None).new is True
    assert signer.verify(SessionSigner("j" * 32).sign(session_id)) is None
    assert signer.verify(session_id) is None
    assert signer.new_id() != session_id
    with pytest.raises(ValueError, match="BOT_SECRET_KEY"):
        SessionSigner("short")


def test_secret_key_is_kept_private_when_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOT_SECRET_KEY", raising=False)
    path = tmp_path / "web-secret"
    key = secret_key(path)
    assert len(key) >= 32 and secret_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("BOT_SECRET_KEY", "from-the-environment-0123")
    assert secret_key(path) == "from-the-environment-0123"


def test_history_shows_button_titles_and_only_user_and_bot_messages() -> None:
    buttons = [{"title": "社保卡免费邮寄", "payload": "/ask_sscard_mail"}]
    events = [
        {"event": "action", "name": "action_session_start"},
        {"event": "user", "text": "社保卡咋办"},
        {"event": "bot", "text": "负责部门：市人社局", "data": {"buttons": None}},
        {"event": "bot", "text": "您可能还想问：", "data": {"buttons": buttons}},
        {"event": "slot", "name": "feedback", "value": {"rating": "helpful"}},
        {"event": "user", "text": "/ask_sscard_mail"},
        {"event": "user", "text": "/ask_sscard_mail"},
    ]
    assert conversation(events) == [
        {"role": "user", "text": "社保卡咋办", "buttons": [], "index": 0},
        {"role": "bot", "text": "负责部门：市人社局", "buttons": [], "index": 1},
        {"role": "bot", "text": "您可能还想问：", "buttons": buttons, "index": 2},
        {"role": "user", "text": "社保卡免费邮寄", "buttons": [], "index": 3},
        {"role": "user", "text": "/ask_sscard_mail", "buttons": [], "index": 4},
    ]
    replies = [{"recipient_id": "x", "text": "你好", "buttons": buttons}, {"recipient_id": "x", "image": "a.png"}]
    assert reply_messages(replies) == [{"text": "你好", "buttons": buttons}]
