"""Action server down or hung → the resident gets the apology with 12345 on every channel, within a few seconds,
and the turn (the message and the apology) is in the conversation log. Real servers; the faults are a killed and a
SIGSTOPped action server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml

from bot.channels.faults import FAULT_KEY, UNAVAILABLE
from bot.config import ROOT
from kb.build import load
from tests.channels.conftest import new_msg_id, new_openid, text_xml
from tests.faults.stack import ACTION_TIMEOUT, CLIENT_TIMEOUT, Stack, sender

QUESTION = "社保卡咋办"  # answered by the custom action action_answer_topic


def apology() -> str:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return str(domain["responses"][UNAVAILABLE][0]["text"])


def test_the_apology_names_the_hotline_the_kb_states() -> None:
    hotline = next(entry for entry in load().entries if entry["id"] == "hotline")
    assert "12345" in hotline["answer"]
    assert "12345" in apology()


def turn_of(events: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The events from the user message `text` to the end."""
    starts = [i for i, e in enumerate(events) if e["event"] == "user" and e.get("text") == text]
    assert starts, [e.get("text") for e in events if e["event"] == "user"]
    return events[starts[-1] :]


def assert_logged_apology(stack: Stack, who: str, text: str) -> None:
    turn = turn_of(stack.events(who), text)
    bots = [e for e in turn if e["event"] == "bot"]
    assert [e["text"] for e in bots] == [apology()], bots
    assert bots[0]["metadata"].get(FAULT_KEY) == "action_server"
    assert bots[0]["metadata"].get("utter_action") == UNAVAILABLE


@pytest.fixture
def actions_down(stack: Stack) -> Iterator[None]:
    stack.kill_actions()
    try:
        yield
    finally:
        stack.start_actions()


@pytest.fixture
def actions_hung(stack: Stack) -> Iterator[None]:
    stack.pause_actions()
    try:
        yield
    finally:
        stack.resume_actions()


def timed_rest(stack: Stack, who: str, text: str) -> tuple[float, requests.Response]:
    started = time.monotonic()
    response = stack.say(who, text)
    return time.monotonic() - started, response


@pytest.mark.usefixtures("actions_down")
def test_rest_action_server_down(stack: Stack) -> None:
    who = sender()
    _, response = timed_rest(stack, who, QUESTION)
    assert response.status_code == 200
    assert [reply["text"] for reply in response.json()] == [apology()]
    assert "fault" not in response.json()[0]  # the marker stays in the log, not in what the resident sees
    assert_logged_apology(stack, who, QUESTION)


@pytest.mark.usefixtures("actions_hung")
def test_rest_action_server_hung(stack: Stack) -> None:
    who = sender()
    elapsed, response = timed_rest(stack, who, QUESTION)  # the client gives up after CLIENT_TIMEOUT
    assert response.status_code == 200
    assert [reply["text"] for reply in response.json()] == [apology()]
    assert elapsed >= ACTION_TIMEOUT  # it did wait for the action server, once: one apology per turn
    assert_logged_apology(stack, who, QUESTION)


def test_conversation_goes_on_after_the_action_server_is_back(stack: Stack) -> None:
    who = sender()
    stack.kill_actions()
    try:
        assert "12345" in stack.text_of(who, QUESTION)
    finally:
        stack.start_actions()
    assert "驻马店市人力资源和社会保障局" in stack.text_of(who, QUESTION)


def wechat_says(stack: Stack, text: str) -> tuple[str, str]:
    openid = new_openid()
    reply = stack.wechat().post(text_xml(openid, text, new_msg_id()), mode="raw", timeout=CLIENT_TIMEOUT + 5)
    assert reply.status == 200, reply.body
    return openid, reply.content


@pytest.mark.usefixtures("actions_down")
def test_wechat_action_server_down(stack: Stack) -> None:
    openid, content = wechat_says(stack, QUESTION)
    assert content == apology()
    assert_logged_apology(stack, openid, QUESTION)


@pytest.mark.usefixtures("actions_hung")
def test_wechat_action_server_hung(stack: Stack) -> None:
    openid, content = wechat_says(stack, QUESTION)
    assert content == apology()
    assert_logged_apology(stack, openid, QUESTION)


def web_says(stack: Stack, text: str) -> tuple[str, list[str]]:
    response = requests.post(f"{stack.web_url}/api/message", json={"message": text}, timeout=CLIENT_TIMEOUT + 5)
    assert response.status_code == 200, response.text
    session_id = response.cookies["zmd_chat"].rpartition(".")[0]
    return session_id, [m["text"] for m in response.json()["messages"]]


@pytest.mark.usefixtures("actions_down")
def test_chat_page_action_server_down(stack: Stack) -> None:
    session_id, texts = web_says(stack, QUESTION)
    assert texts == [apology()]
    assert_logged_apology(stack, session_id, QUESTION)


@pytest.mark.usefixtures("actions_hung")
def test_chat_page_action_server_hung(stack: Stack) -> None:
    session_id, texts = web_says(stack, QUESTION)
    assert texts == [apology()]
    assert_logged_apology(stack, session_id, QUESTION)


@pytest.mark.usefixtures("actions_hung")
def test_a_form_turn_with_the_action_server_hung_apologises_once(stack: Stack) -> None:
    """The manhole form calls the action server (validation) and then asks; the resident hears one apology."""
    who = sender()
    response = stack.say(who, "门口井盖没了")
    assert response.status_code == 200
    texts = [reply.get("text") for reply in response.json()]
    assert texts.count(apology()) == 1, texts
