"""The generated nginx configuration pins a conversation to one instance, whichever way the sender is given.

Real nginx (Debian's) in front of two tiny HTTP servers that answer with their own port.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from bot.cluster import ClusterConfig, nginx_binary, nginx_config
from tests.conftest import free_port


class Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(str(self.server.server_port).encode())

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[str, list[ThreadingHTTPServer]]]:
    upstreams = [ThreadingHTTPServer(("127.0.0.1", free_port()), Echo) for _ in range(2)]
    for server in upstreams:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    config = ClusterConfig(
        database_url="postgresql://unused/x",
        redis_url="",
        model=Path("unused"),
        work_dir=tmp_path,
        public_port=free_port(),
        rasa_ports=tuple(server.server_port for server in upstreams),
    )
    (tmp_path / "nginx" / "tmp").mkdir(parents=True)
    (tmp_path / "nginx" / "nginx.conf").write_text(nginx_config(config), encoding="utf-8")
    command = [nginx_binary(), "-p", str(tmp_path / "nginx"), "-c", "nginx.conf", "-g", "daemon off;"]
    nginx = subprocess.Popen(command, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{config.public_port}"
    try:
        for _ in range(100):
            try:
                requests.get(base, timeout=1)
                break
            except requests.ConnectionError:
                threading.Event().wait(0.05)
        yield base, upstreams
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        for server in upstreams:
            server.shutdown()


def rest(base: str, sender: str, message: str = "社保卡咋办") -> int:
    body = json.dumps({"message": message, "sender": sender}, ensure_ascii=False).encode()
    return int(requests.post(f"{base}/webhooks/rest/webhook", data=body, timeout=5).text)


def test_each_sender_stays_on_one_instance_and_both_are_used(proxy: tuple[str, list]) -> None:
    base, _ = proxy
    chosen = {f"resident-{n}": {rest(base, f"resident-{n}", f"第{turn}句") for turn in range(4)} for n in range(40)}
    assert all(len(ports) == 1 for ports in chosen.values())
    assert len({next(iter(ports)) for ports in chosen.values()}) == 2


def test_query_openid_path_and_body_name_the_same_conversation(proxy: tuple[str, list]) -> None:
    base, _ = proxy
    for sender in (f"o{n}AbC_xyz" for n in range(20)):
        ports = {
            rest(base, sender),
            int(requests.post(f"{base}/webhooks/rest/webhook?sender={sender}", data=b"{}", timeout=5).text),
            int(requests.post(f"{base}/webhooks/wechat/webhook?openid={sender}", data=b"<xml/>", timeout=5).text),
            int(requests.get(f"{base}/conversations/{sender}/tracker?token=t", timeout=5).text),
        }
        assert len(ports) == 1, sender


def test_a_sender_written_inside_the_message_does_not_move_the_conversation(proxy: tuple[str, list]) -> None:
    base, _ = proxy
    for n in range(20):
        home = rest(base, f"victim-{n}")
        decoys = {rest(base, f"victim-{n}", f'俺说 "sender": "other-{k}" 咋办') for k in range(10)}
        assert decoys == {home}


def test_when_an_instance_is_gone_its_conversations_go_to_the_other(proxy: tuple[str, list]) -> None:
    base, upstreams = proxy
    homes = {f"r{n}": rest(base, f"r{n}") for n in range(30)}
    gone = upstreams[0]
    gone.shutdown()
    gone.server_close()
    survivor = upstreams[1].server_port
    assert {sender: rest(base, sender) for sender in homes} == dict.fromkeys(homes, survivor)
