"""FAQ-to-live for `make bench`: a staff member imports a FAQ file; how long until a resident's paraphrase gets the
new answer from the running server, and how many requests failed meanwhile for a resident who kept chatting. Timed
twice: the city's first two FAQs (a full training), then one more (finetuned in, the usual case).

Runs in a copy of the project (`var/bench/faq/`) against its own Rasa + action server on the current model, so the
working tree and `models/` are untouched. The clock starts before `faq import` and stops when the probe (a
paraphrase not in the file) is answered with the new text. The live model's hold-out score is measured before the
clock starts: the registry knows it after the first retrain, so only that one pays for it. A chat request fails
when it errors, is not HTTP 200, or does not name 市人社局 for 社保卡咋办 (an apology counts as a failure).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from bench.run import Server, free_port, start
from bot.config import ROOT, VAR_DIR
from bot.retrain import Options, Target, project_copy, retrain, score_live_model
from bot.serve import actions_command, rasa_command
from bot.training import latest_model
from kb import faq

ANSWER = "测试答案：市图书馆的开放时间以市文广旅局发布的通知为准。"
CSV = (
    "question,answer,office,paraphrases,procedure\n"
    f"市图书馆几点开门,{ANSWER},市文广旅局,"
    "图书馆开放时间是几点|图书馆周末开门吗|图书馆晚上几点关门|去市图书馆借书啥时候能进|图书馆节假日开不开"
    "|俺想去图书馆看书几点开门|市图书馆营业时间|圖書館幾點開門,查看通知\n"
)
PROBE = "市图书馆今天开不开门呀"  # not in the file
# The first FAQs, before the timed one (bench/faq_modes.py has them with more paraphrases).
FIRST_ANSWER = "测试答案：公园开放时间以市城管局发布的通知为准。"
FIRST_CSV = (
    "question,answer,office,paraphrases,procedure\n"
    f"公园晚上几点关门,{FIRST_ANSWER},市城管局,"
    "市里的公园几点关门|公园夜里开放不|晚上去公园遛弯几点得出来|公园开放时间|公园早上几点开门,查看通知\n"
    "老年人优待证怎么办,测试答案：老年人优待证以市民政局通知为准。,市民政局,"
    "老年证咋办|俺爹七十了能办老年优待证不|办老年证要带啥|老年人优待证在哪申请|老年卡怎么申领,查看通知\n"
)
FIRST_PROBE = "晚上九点还能进公园不"  # not in the file
CHAT, CHAT_EXPECT = "社保卡咋办", "市人社局"


class Chatter:
    """A resident who keeps chatting through the retrain and the swap."""

    def __init__(self, url: str) -> None:
        self.url, self.sent, self.failed = url, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        sender = ""
        while not self.stop.is_set():
            if self.sent % 20 == 0:
                sender = f"bench-chat-{uuid.uuid4().hex[:8]}"  # a new conversation every 20 turns
            self.sent += 1
            try:
                reply = requests.post(
                    f"{self.url}/webhooks/rest/webhook", json={"sender": sender, "message": CHAT}, timeout=60
                )
                text = " ".join(m.get("text") or "" for m in reply.json()) if reply.status_code == 200 else ""
                self.failed += CHAT_EXPECT not in text
            except (requests.RequestException, ValueError):
                self.failed += 1
            time.sleep(0.2)


def answers(url: str, probe: str, expect: str) -> bool:
    body = {"sender": f"probe-{uuid.uuid4().hex[:8]}", "message": probe}
    reply = requests.post(f"{url}/webhooks/rest/webhook", json=body, timeout=60)
    return reply.status_code == 200 and any(expect in (m.get("text") or "") for m in reply.json())


def measure_faq_to_live(database_url: str) -> dict[str, Any]:
    """`make bench` section: seconds from `faq import` to the answer being live, and failed chat requests."""
    model = latest_model()
    if model is None:
        return {"skipped": "no trained model"}
    work = VAR_DIR / "bench" / "faq"
    shutil.rmtree(work, ignore_errors=True)
    root = project_copy(work / "project")
    models_dir = work / "models"
    models_dir.mkdir()
    base = Path(shutil.copy(model, models_dir / model.name))
    csv_file = work / "faqs.csv"
    csv_file.write_text("\ufeff" + CSV, encoding="utf-8")  # as Excel writes it

    token, action_port, rasa_port = uuid.uuid4().hex, free_port(), free_port()
    endpoints = work / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n', encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": database_url, "SANIC_HOST": "127.0.0.1", "RATE_LIMIT_MESSAGES": "0"}
    servers: list[Server] = []
    try:
        servers.append(
            start("faq-actions", actions_command(action_port), f"http://127.0.0.1:{action_port}/health", env, ROOT)
        )
        command = rasa_command(base, rasa_port, token, endpoints, ROOT / "credentials.yml")
        servers.append(start("faq-rasa", command, f"http://127.0.0.1:{rasa_port}/status?token={token}", env, ROOT))
        target = Target(f"http://127.0.0.1:{rasa_port}", token)
        return _timed(csv_file, root, models_dir, target, database_url)
    finally:
        for server in servers:
            server.stop()


def _timed(csv_file: Path, root: Path, models_dir: Path, target: Target, url: str) -> dict[str, Any]:
    """First the city's first staff FAQs (a full training: the intent `faq` is new), then one more FAQ on top, the
    usual case (finetuned: bot/nlu/faq_selector.py). Both are timed; `seconds` is the second."""
    options = Options(actor="bench", root=root, models_dir=models_dir, target=target, url=url, progress=_quiet)
    score_live_model(options, models_dir)  # known after any retrain; only the very first one measures it
    seed = csv_file.with_name("first-faqs.csv")
    seed.write_text("\ufeff" + FIRST_CSV, encoding="utf-8")
    first = _until_live(seed, options, FIRST_PROBE, FIRST_ANSWER)
    another = _until_live(csv_file, options, PROBE, ANSWER)
    return {**another, "first_faqs": first}


def _until_live(csv_file: Path, options: Options, probe: str, answer: str) -> dict[str, Any]:
    """Import `csv_file`, retrain and deploy while a resident chats; seconds until `probe` gets `answer`."""
    assert options.target is not None and options.url is not None
    url = options.target.url
    chatter = Chatter(url)
    chatter.thread.start()
    started = time.monotonic()
    try:
        imported = faq.import_csv(csv_file, "bench", update=True, url=options.url)
        result = retrain(options)
        deployed = time.monotonic()  # live now; a probe the model does not understand is not waited for long
        while time.monotonic() - deployed < 60 and not answers(url, probe, answer):
            time.sleep(0.5)
        seconds = time.monotonic() - started
        live = answers(url, probe, answer)
    finally:
        chatter.stop.set()
        chatter.thread.join(timeout=70)
    return {
        "seconds": round(seconds, 1),
        "answered": live,
        "imported": len(imported.created),
        "failed_requests": chatter.failed,
        "requests": chatter.sent,
        "mode": result.record.mode,
        "steps": {name: round(value, 1) for name, value in result.seconds.items()},
        "holdout_accuracy": result.record.holdout_accuracy,
    }


def _quiet(_: str) -> None:
    return None
