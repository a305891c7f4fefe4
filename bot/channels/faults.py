"""When the action server is down or slow, the resident gets `utter_service_unavailable` (with the 12345 hotline)
within ACTION_TIMEOUT seconds instead of silence, and the turn is logged like any other.

Rasa 3.6 calls the action server with a fixed 5-minute timeout, and when the call fails it logs the exception,
drops the action's events and carries on: the resident hears nothing. `ActionServerGuard` is the action endpoint
(Rasa's own `EndpointConfig`) with a bounded timeout; when a call fails it answers in the action server's own
format with the response `utter_service_unavailable`. Rasa then renders that response from domain.yml, sends it on
whatever channel the message came from and stores it in the tracker as a `BotUttered` (metadata `fault`), in the
turn's order. A second custom action in the same turn is not tried again (one apology per turn). A 400 from the
action server (a form's `ActionExecutionRejection`) is passed through: that is Rasa's own protocol.

The channels install the guard on the running agent (`prepare`), on start and again on every request (a model
loaded with `PUT /model` comes with a fresh agent), and cap request bodies (REQUEST_MAX_BYTES).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import aiohttp
from rasa.utils.endpoints import ClientResponseError, EndpointConfig, concat_url
from sanic import Sanic
from sanic.request import Request

from bot import model_loading
from bot.channels import model_swap
from bot.config import limit_settings

logger = logging.getLogger(__name__)

UNAVAILABLE = "utter_service_unavailable"
FAULT_KEY = "fault"  # in the apology's BotUttered metadata: {"fault": "action_server"}
# Only if the domain has no such response; the same sentence as utter_service_unavailable in domain.yml.
UNAVAILABLE_FALLBACK = "抱歉，系统暂时出了点问题，请稍后再试；着急的话请拨打12345政务服务便民热线。"


def fallback_response() -> dict[str, Any]:
    """What the action server would have answered: no events, one apology (a fresh dict: Rasa mutates it)."""
    return {"events": [], "responses": [{"response": UNAVAILABLE, FAULT_KEY: "action_server"}]}


def failed_this_turn(body: Any) -> bool:
    """True when the tracker sent to the action server already holds this turn's apology."""
    tracker = body.get("tracker") if isinstance(body, dict) else None
    events = tracker.get("events") if isinstance(tracker, dict) else None
    for event in reversed(events or []):
        if not isinstance(event, dict) or event.get("event") == "user":
            return False
        metadata = event.get("metadata")
        if event.get("event") == "bot" and isinstance(metadata, dict) and metadata.get(FAULT_KEY):
            return True
    return False


class ActionServerGuard(EndpointConfig):
    """The configured action endpoint, with a timeout and an apology instead of silence when it fails."""

    def __init__(self, inner: EndpointConfig, timeout: float) -> None:
        super().__init__(
            url=inner.url,
            params=inner.params,
            headers=inner.headers,
            basic_auth=inner.basic_auth,
            token=inner.token,
            token_name=inner.token_name,
            cafile=inner.cafile,
            **inner.kwargs,
        )
        self.type = inner.type
        self.timeout = timeout

    async def request(
        self,
        method: str = "post",
        subpath: str | None = None,
        content_type: str | None = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ) -> Any:
        body = kwargs.get("json")
        action = body.get("next_action") if isinstance(body, dict) else None
        if failed_this_turn(body):
            logger.warning("Action %s skipped: the action server already failed in this turn", action)
            return {"events": [], "responses": []}
        kwargs["timeout"] = aiohttp.ClientTimeout(total=self.timeout)
        try:
            return await self._request(method, subpath, content_type, compress, **kwargs)
        except ClientResponseError as error:
            if error.status == 400:  # the action server rejected the action: Rasa handles that itself
                raise
            reason = f"HTTP {error.status}"
        except asyncio.TimeoutError:
            reason = f"no answer within ACTION_TIMEOUT={self.timeout:g} s"
        except (aiohttp.ClientError, OSError) as error:
            reason = f"{type(error).__name__}: {error}"
        logger.error(
            "Action server %s failed running %s (%s); the resident gets %s", self.url, action, reason, UNAVAILABLE
        )
        return fallback_response()

    async def _request(
        self, method: str, subpath: str | None, content_type: str | None, compress: bool, **kwargs: Any
    ) -> Any:
        """`EndpointConfig.request` on a kept-alive connection: Rasa opens a new client session, and so a new TCP
        connection the action server must accept, for every action call."""
        headers = {"Content-Type": content_type} if content_type else {}
        headers.update(kwargs.pop("headers", None) or {})
        headers.update(self.headers or {})
        auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
        ssl_context = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
        session = _session()
        url = concat_url(self.url, subpath)
        params = self.combine_parameters(kwargs)
        async with session.request(
            method, url, headers=headers, params=params, compress=compress, ssl=ssl_context, auth=auth, **kwargs
        ) as response:
            if response.status >= 400:
                raise ClientResponseError(response.status, response.reason, await response.content.read())
            try:
                return await response.json()
            except aiohttp.ContentTypeError:
                return None


_SESSIONS: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
KEEP_ALIVE_SECONDS = 2.0


def _session() -> aiohttp.ClientSession:
    """This event loop's client session for action calls (its pool keeps connections to the action server open)."""
    loop = asyncio.get_running_loop()
    session = _SESSIONS.get(loop)
    if session is None or session.closed:
        for other in [known for known in _SESSIONS if known.is_closed()]:  # loops that ended (tests)
            del _SESSIONS[other]
        # Idle connections go after 2 s, before the action server's Sanic drops them (KEEP_ALIVE_TIMEOUT, 5 s): a
        # request is never sent down a connection the server is closing.
        connector = aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE_SECONDS)
        session = _SESSIONS[loop] = aiohttp.ClientSession(connector=connector)
    return session


async def close_sessions() -> None:
    session = _SESSIONS.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


def guard_action_server(agent: Any, timeout: float | None = None) -> None:
    """Wrap the agent's action endpoint (and its processor's) in an ActionServerGuard, once."""
    if agent is None or getattr(agent, "action_endpoint", None) is None:
        return
    endpoint = agent.action_endpoint
    if not isinstance(endpoint, ActionServerGuard):
        endpoint = ActionServerGuard(endpoint, timeout if timeout is not None else limit_settings().action_timeout)
        agent.action_endpoint = endpoint
    processor = getattr(agent, "processor", None)
    if processor is not None and not isinstance(processor.action_endpoint, ActionServerGuard):
        processor.action_endpoint = endpoint


def cap_request_size(app: Sanic) -> None:
    """Sanic's REQUEST_MAX_SIZE (default 100 MB) down to REQUEST_MAX_BYTES: bigger bodies get 413 unread."""
    app.config.REQUEST_MAX_SIZE = limit_settings().request_max_bytes


def prepare(request: Request) -> None:
    """Called by the channels on every request: the guard is on the agent serving this request."""
    guard_action_server(getattr(request.app.ctx, "agent", None))


def register_listeners(blueprint: Any) -> None:
    """Cap request sizes before the server starts and guard the agent once it is loaded.

    Rasa builds the channels' blueprints before it loads the model, so the prediction-only loading goes in here.
    """
    model_loading.install()  # bot/model_loading.py

    @blueprint.listener("before_server_start")
    async def _cap(app: Sanic, _: Any) -> None:
        cap_request_size(app)
        model_swap.install()  # PUT /model loads off the event loop (bot/channels/model_swap.py)

    @blueprint.listener("after_server_start")
    async def _guard(app: Sanic, _: Any) -> None:
        guard_action_server(getattr(app.ctx, "agent", None))

    @blueprint.listener("after_server_stop")
    async def _close(app: Sanic, _: Any) -> None:
        await close_sessions()


def domain_text(agent: Any, name: str, fallback: str) -> str:
    """The first text of response `name` in the running model's domain, or `fallback`."""
    domain = getattr(agent, "domain", None)
    variants = (getattr(domain, "responses", None) or {}).get(name) or []
    first = variants[0] if variants else None
    text = first.get("text") if isinstance(first, dict) else None
    return str(text) if text else fallback
