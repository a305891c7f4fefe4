"""ActionServerGuard against a small aiohttp action server of each kind of failure (the live stack covers the real
servers in tests/faults/test_action_server.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from rasa.core.agent import Agent
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from bot.channels.faults import (
    FAULT_KEY,
    KEEP_ALIVE_SECONDS,
    UNAVAILABLE,
    ActionServerGuard,
    close_sessions,
    failed_this_turn,
    guard_action_server,
)
from tests.conftest import free_port

OK = {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": []}


@pytest.fixture(autouse=True)
async def _close_kept_alive_sessions() -> AsyncIterator[None]:
    yield
    await close_sessions()  # as the server does when it stops: each test has its own event loop


SEEN: list[tuple[Any, dict[str, str]]] = []  # (the client's address, the query) of every call, in order


@pytest.fixture
async def action_server() -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.Response:
        SEEN.append((request.transport.get_extra_info("peername") if request.transport else None, dict(request.query)))
        mode = request.query.get("mode", "ok")
        if mode == "slow":
            await asyncio.sleep(5)
        if mode == "reject":
            return web.json_response({"action_name": "validate_x", "error": "no"}, status=400)
        if mode == "broken":
            return web.Response(status=500, text="boom")
        return web.json_response(OK)

    app = web.Application()
    app.router.add_post("/webhook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        await runner.cleanup()


def body(events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"next_action": "action_answer_topic", "tracker": {"events": events or []}}


def is_apology(result: Any) -> bool:
    return result == {"events": [], "responses": [{"response": UNAVAILABLE, FAULT_KEY: "action_server"}]}


async def test_a_working_server_is_passed_through(action_server: str) -> None:
    guard = ActionServerGuard(EndpointConfig(url=action_server), timeout=2)
    assert await guard.request(json=body()) == OK


async def test_calls_share_one_kept_alive_connection(action_server: str) -> None:
    """Rasa opens a new client session (a new TCP connection) per action call; the guard keeps one open."""
    SEEN.clear()
    guard = ActionServerGuard(EndpointConfig(url=action_server, token="secret"), timeout=2)
    for _ in range(3):
        assert await guard.request(json=body()) == OK
    assert len(SEEN) == 3 and len({peer for peer, _ in SEEN}) == 1
    assert all(query == {"token": "secret"} for _, query in SEEN)
    await asyncio.sleep(KEEP_ALIVE_SECONDS + 0.5)  # idle longer than we keep a connection: a new one, no error
    assert await guard.request(json=body()) == OK
    assert len({peer for peer, _ in SEEN}) == 2
    await close_sessions()
    assert await guard.request(json=body()) == OK  # a closed session is replaced


@pytest.mark.parametrize("mode", ["slow", "broken"])
async def test_slow_or_broken_becomes_the_apology(action_server: str, mode: str) -> None:
    guard = ActionServerGuard(EndpointConfig(url=action_server, params={"mode": mode}), timeout=1)
    assert is_apology(await guard.request(json=body()))


async def test_a_dead_port_becomes_the_apology() -> None:
    guard = ActionServerGuard(EndpointConfig(url=f"http://127.0.0.1:{free_port()}/webhook"), timeout=1)
    assert is_apology(await guard.request(json=body()))


async def test_a_rejection_is_rasas_own_protocol(action_server: str) -> None:
    guard = ActionServerGuard(EndpointConfig(url=action_server, params={"mode": "reject"}), timeout=2)
    with pytest.raises(ClientResponseError) as raised:
        await guard.request(json=body())
    assert raised.value.status == 400


async def test_one_apology_per_turn(action_server: str) -> None:
    apology = {"event": "bot", "text": "抱歉", "metadata": {FAULT_KEY: "action_server"}}
    earlier_turn = [apology, {"event": "user", "text": "again"}]
    assert failed_this_turn(body([{"event": "user", "text": "q"}, apology]))
    assert not failed_this_turn(body(earlier_turn))
    assert not failed_this_turn({"tracker": "nonsense"}) and not failed_this_turn(None)
    guard = ActionServerGuard(EndpointConfig(url=action_server), timeout=2)
    assert await guard.request(json=body([{"event": "user", "text": "q"}, apology])) == {"events": [], "responses": []}


def test_guard_is_installed_once_on_agent_and_processor() -> None:
    endpoint = EndpointConfig(url="http://127.0.0.1:5055/webhook", token="t")
    agent = Agent(action_endpoint=endpoint)
    guard_action_server(agent, timeout=2)
    guarded = agent.action_endpoint
    assert isinstance(guarded, ActionServerGuard) and guarded.url == endpoint.url and guarded.token == "t"
    guard_action_server(agent)
    assert agent.action_endpoint is guarded
