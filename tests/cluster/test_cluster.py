"""Section 1 of issue 6 on a real cluster: nginx → two Rasa instances → PostgreSQL, Redis lock store.

200 conversations of 5 turns at once: every resident message and every reply is stored exactly once and in order,
each conversation is served by one instance, and both instances serve. Then one instance is killed mid-load: the
conversations go on through the other, and still nothing is lost or stored twice.
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections import defaultdict
from pathlib import Path

import aiohttp

from bot.cluster import Cluster
from tests.cluster.client import Client, Conversation, expected_rows, stored_conversations

# Single-turn questions across offices, greetings and out-of-scope (no form, so every turn stands on its own).
MESSAGES = [
    "你好",
    "社保卡咋办",
    "社保卡能寄到家吗",
    "电梯困人了",
    "医保电子凭证咋弄",
    "俺家孩子上学的事找谁",
    "人才公寓咋申请",
    "老旧小区改造啥时候轮到俺们",
    "今天天气怎么样",
    "谢谢",
    "农村改厕找哪个部门",
    "有纠纷了找谁调解",
]
CONVERSATIONS = 200
TURNS = 5


def conversations(prefix: str, count: int) -> list[Conversation]:
    chooser = random.Random(42)
    return [
        Conversation(f"{prefix}-{number}-{uuid.uuid4().hex[:6]}", chooser.sample(MESSAGES, TURNS))
        for number in range(count)
    ]


async def run_all(cluster: Cluster, batch: list[Conversation], after_turns: int = 0, kill: str = "") -> None:
    """All conversations at once; with `kill`, that process is SIGKILLed once `after_turns` turns have answers."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = Client(cluster.url, cluster.config.token, session)
        tasks = [asyncio.create_task(client.converse(conversation)) for conversation in batch]
        if kill:
            while sum(len(conversation.replies) for conversation in batch) < after_turns:
                await asyncio.sleep(0.05)
            await asyncio.get_running_loop().run_in_executor(None, cluster.kill, kill)
        await asyncio.gather(*tasks)


def served_by(access_log: Path, senders: set[str]) -> dict[str, set[str]]:
    """sender → the Rasa instances (host:port) nginx sent its successful requests to."""
    line = re.compile(r'^\S+ (?P<status>\d+) (?P<upstream>\S+) \S+ "(?P<key>[^"]*)"$')
    instances: dict[str, set[str]] = defaultdict(set)
    for text in access_log.read_text(encoding="utf-8").splitlines():
        match = line.match(text)
        if match and match["key"] in senders and match["status"] == "200":
            instances[match["key"]].add(match["upstream"])
    return instances


def assert_stored_exactly_once(cluster: Cluster, batch: list[Conversation]) -> None:
    stored = stored_conversations(cluster.config.database_url, {conversation.sender for conversation in batch})
    for conversation in batch:
        assert len(conversation.replies) == TURNS
        assert all(conversation.replies), f"{conversation.sender}: a turn without a reply"
        assert stored[conversation.sender] == expected_rows(conversation), conversation.sender


def test_200_concurrent_conversations_are_stored_exactly_once_in_order_on_one_instance_each(cluster: Cluster) -> None:
    batch = conversations("load", CONVERSATIONS)
    asyncio.run(run_all(cluster, batch))

    assert_stored_exactly_once(cluster, batch)
    assert sum(conversation.retries for conversation in batch) == 0
    instances = served_by(cluster.config.work_dir / "nginx" / "access.log", {c.sender for c in batch})
    assert set(instances) == {conversation.sender for conversation in batch}
    assert all(len(used) == 1 for used in instances.values()), "a conversation moved between instances"
    per_instance = defaultdict(int)
    for used in instances.values():
        per_instance[next(iter(used))] += 1
    assert len(per_instance) == 2 and min(per_instance.values()) >= CONVERSATIONS // 5, dict(per_instance)


def test_killing_an_instance_mid_load_loses_nothing(cluster: Cluster) -> None:
    batch = conversations("kill", CONVERSATIONS)
    asyncio.run(run_all(cluster, batch, after_turns=CONVERSATIONS * TURNS // 3, kill="rasa1"))

    assert cluster.processes["rasa1"].poll() is not None
    assert_stored_exactly_once(cluster, batch)
    survivor = f"127.0.0.1:{cluster.config.rasa_ports[1]}"
    instances = served_by(cluster.config.work_dir / "nginx" / "access.log", {c.sender for c in batch})
    moved = [sender for sender, used in instances.items() if len(used) == 2]
    assert moved, "no conversation was served by both instances: the kill happened too late to test anything"
    assert all(survivor in instances[sender] for sender in moved)
