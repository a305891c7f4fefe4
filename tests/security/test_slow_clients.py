"""Slow clients (slowloris): a request's header and body must arrive within a deadline counted from its first byte,
on every server we start — the web app, Rasa and the action server — however regularly the client trickles bytes.

Sanic's own REQUEST_TIMEOUT / RESPONSE_TIMEOUT are idle timeouts, reset by every byte received: a byte every few
seconds held a connection for as long as the client liked. The hardened stack runs with short deadlines
(HEADER_TIMEOUT, BODY_TIMEOUT, via SANIC_REQUEST_HEADER_TIMEOUT / SANIC_REQUEST_BODY_TIMEOUT); each case trickles
one byte a second and measures when the server ends the connection. All six run at once (one wall-clock wait)."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.faults.stack import BODY_TIMEOUT, HEADER_TIMEOUT, Stack

TRICKLE_EVERY = 1.0  # seconds between two bytes: far below Sanic's idle timeouts (5 s keep-alive, 60 s request)
GIVE_UP = 30.0  # the client stops here; before the fix every connection was still open then
CHECK_SLACK = 4.0  # the deadline's timer fires on time; the machine may be busy

PATHS = {"web": "/api/message", "rasa": "/webhooks/rest/webhook", "actions": "/webhook"}


def trickle(port: int, head: bytes) -> tuple[float, bytes]:
    """Send `head`, then one byte a second; (seconds until the server answered or closed, what it answered)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        connection.settimeout(TRICKLE_EVERY)
        while time.monotonic() - started < GIVE_UP:
            try:
                answer = connection.recv(4096)
            except TimeoutError:
                answer = None
            except OSError:  # reset by the server
                return time.monotonic() - started, b""
            if answer is not None:  # an answer (408) or the end of the connection (b"")
                return time.monotonic() - started, answer
            try:
                connection.sendall(b"a")
            except OSError:
                return time.monotonic() - started, b""
    return GIVE_UP, b""


def header_trickle(path: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode()


def body_trickle(path: str) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
    return head.encode() + b'{"message": "'


def test_slow_headers_and_bodies_are_cut_off_on_every_server(stack: Stack) -> None:
    cases = [(name, kind) for name in PATHS for kind in ("header", "body")]
    with ThreadPoolExecutor(len(cases)) as pool:
        futures = {
            case: pool.submit(
                trickle,
                stack.ports[case[0]],
                header_trickle(PATHS[case[0]]) if case[1] == "header" else body_trickle(PATHS[case[0]]),
            )
            for case in cases
        }
        results = {case: future.result() for case, future in futures.items()}
    for (name, kind), (seconds, answer) in results.items():
        limit = HEADER_TIMEOUT if kind == "header" else HEADER_TIMEOUT + BODY_TIMEOUT
        assert seconds < limit + CHECK_SLACK, f"{name}: a slow {kind} kept the connection {seconds:.1f} s"
        assert seconds >= min(HEADER_TIMEOUT, limit) - 0.5, f"{name}: cut after {seconds:.1f} s, before the deadline"
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), (name, kind, answer[:200])
    # The servers go on answering everyone else.
    assert requests.get(f"{stack.web_url}/healthz", timeout=15).status_code == 200
    assert requests.get(f"{stack.action_url}/health", timeout=15).status_code == 200
    assert stack.say("slow-clients-after", "你好").status_code == 200


def test_a_request_sent_at_once_is_not_affected(stack: Stack) -> None:
    """A whole request that arrives in one piece well after the connection opened (keep-alive) is answered."""
    with requests.Session() as session:
        assert session.get(f"{stack.web_url}/healthz", timeout=15).status_code == 200
        assert HEADER_TIMEOUT + 0.5 < 5  # Sanic's keep-alive timeout
        time.sleep(HEADER_TIMEOUT + 0.5)  # idle on the kept-alive connection longer than the header deadline
        assert session.get(f"{stack.web_url}/healthz", timeout=15).status_code == 200
