"""End to end, with one full training and one finetuning: import the first FAQs → retrain (full) → live in the
running server with no failed request; import another → retrain (finetuned in) → live; edit an answer → live
without retraining; a gate failure keeps the model live; rollback restores the old behaviour.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from bot.retrain import GateRefused, Options, RetrainResult, consider, load_registry, retrain, rollback
from kb import audit, faq
from tests.faq.conftest import Live

ANSWER = "测试答案：市图书馆的开放时间以市文广旅局发布的通知为准。"
EDITED = "测试答案（已修改）：请以市文广旅局最新通知为准。"
CSV = (
    "question,answer,office,paraphrases,procedure\n"
    f"市图书馆几点开门,{ANSWER},市文广旅局,"
    "图书馆开放时间是几点|图书馆周末开门吗|图书馆晚上几点关门|去市图书馆借书啥时候能进|图书馆节假日开不开"
    "|俺想去图书馆看书几点开门|市图书馆营业时间|圖書館幾點開門,查看通知\n"
    "公园晚上几点关门,测试答案：公园开放时间以市城管局通知为准。,市城管局,"
    "市里的公园几点关门|公园夜里开放不|晚上去公园遛弯几点得出来|公园开放时间|公园早上几点开门,查看通知\n"
)
UNSEEN = "市图书馆今天开不开门呀"  # not in the file
BLOOD = "测试答案：献血地点以市卫健体委发布的通知为准。"
ANOTHER_CSV = (
    "question,answer,office,paraphrases,procedure\n"
    f"献血在哪里献,{BLOOD},市卫健体委,驻马店哪里可以献血|无偿献血点在哪|想献血去哪|献血屋在什么地方|义务献血找哪里,"
    "查看通知\n"
)
BLOOD_UNSEEN = "市里献血的地方在哪"  # not in the file


@dataclass
class Chatter:
    """A resident who keeps chatting while the model is swapped; counts failed requests."""

    url: str
    sent: int = 0
    failed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            sender = f"chatter-{uuid.uuid4().hex[:8]}"
            for _ in range(10):
                if self.stop.is_set():
                    return
                self.sent += 1
                try:
                    body = {"sender": sender, "message": "社保卡咋办"}
                    reply = requests.post(f"{self.url}/webhooks/rest/webhook", json=body, timeout=120)
                    text = " ".join(m.get("text", "") for m in reply.json()) if reply.status_code == 200 else ""
                    if "市人社局" not in text:  # e.g. 抱歉，系统暂时出了点问题 when an action call timed out
                        self.failed.append(f"{reply.status_code} {text[:60] or reply.text[:100]}")
                except requests.RequestException as error:
                    self.failed.append(repr(error))
                time.sleep(0.1)


@dataclass
class Trained:
    result: RetrainResult
    chatter: Chatter
    progress: list[str]


def import_and_retrain(live: Live, csv: str, folder: Path) -> Trained:
    path = folder / "faqs.csv"
    path.write_text("\ufeff" + csv, encoding="utf-8")
    assert faq.import_csv(path, "王芳", url=live.url).created
    chatter, progress = Chatter(live.servers.rasa_url), []
    client = threading.Thread(target=chatter.run, daemon=True)

    def on_progress(line: str) -> None:
        progress.append(line)
        if line.startswith("6/6"):  # about to PUT /model: chat through the swap
            client.start()

    options = Options(
        actor="王芳", root=live.root, models_dir=live.models_dir, target=live.target, url=live.url, progress=on_progress
    )
    try:
        result = retrain(options)
        time.sleep(2)
    finally:
        chatter.stop.set()
        if client.is_alive():
            client.join(timeout=130)
    return Trained(result, chatter, progress)


@pytest.fixture(scope="module")
def trained(live: Live, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The first two FAQs: the intent `faq` is new to the model, so a full training."""
    return import_and_retrain(live, CSV, tmp_path_factory.mktemp("faq-csv"))


@pytest.fixture(scope="module")
def finetuned(live: Live, trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One more FAQ on top: finetuned into the live model."""
    return import_and_retrain(live, ANOTHER_CSV, tmp_path_factory.mktemp("faq-csv"))


def status_model(live: Live) -> str:
    status = requests.get(f"{live.servers.rasa_url}/status", params={"token": live.target.token}, timeout=30)
    return str(status.json()["model_file"])


def test_a_new_faq_is_answered_for_a_paraphrase_not_in_the_file(live: Live, trained: Trained) -> None:
    record = trained.result.record
    assert trained.result.deployed and record.status == "live" and Path(record.file).name in status_model(live)
    text = live.servers.text_of(f"r-{uuid.uuid4().hex[:6]}", UNSEEN)
    assert ANSWER in text and "驻马店市文化广电和旅游局" in text and "查看通知" in text


def test_the_first_faqs_are_trained_in_full_and_their_scores_kept(live: Live, trained: Trained) -> None:
    new = trained.result.record
    assert [Path(r.file).name for r in load_registry(live.models_dir)] == [Path(new.file).name]
    assert new.holdout_accuracy is not None and new.holdout_accuracy >= 0.95
    assert (new.faq_recognised, new.faq_checked) == (2, 2)
    assert new.mode == "full"  # the intent `faq` is new: Rasa cannot finetune it in
    assert [e.action for e in audit.recent(url=live.url)][:2] == ["deploy", "train"]


def test_no_request_failed_while_the_model_was_swapped(trained: Trained) -> None:
    assert trained.chatter.sent > 0 and trained.chatter.failed == []


def test_another_faq_is_finetuned_into_the_live_model(live: Live, trained: Trained, finetuned: Trained) -> None:
    record, before = finetuned.result.record, trained.result.record
    assert record.mode == "finetune" and finetuned.result.deployed and Path(record.file).name in status_model(live)
    assert any("微调" in line for line in finetuned.progress)
    assert not any("改为完整训练" in line for line in finetuned.progress)  # no fall-back to a full training
    assert (record.faq_recognised, record.faq_checked) == (1, 1)  # only the new FAQ is new
    assert before.holdout_accuracy is not None and record.holdout_accuracy is not None
    assert record.holdout_accuracy >= before.holdout_accuracy - 0.01
    text = live.servers.text_of(f"r-{uuid.uuid4().hex[:6]}", BLOOD_UNSEEN)
    assert BLOOD in text and "市卫健体委" in text
    assert ANSWER in live.servers.text_of(f"r-{uuid.uuid4().hex[:6]}", UNSEEN)  # the earlier FAQs still answer
    assert finetuned.chatter.sent > 0 and finetuned.chatter.failed == []
    train = next(e for e in audit.recent(url=live.url) if e.action == "train")
    assert train.detail["mode"] == "finetune"


def test_an_edited_answer_is_live_without_retraining(live: Live, finetuned: Trained) -> None:
    view = faq.get_faq("f0001", url=live.url)
    assert view is not None
    edited = faq.FaqInput(view.question, EDITED, view.office_id, view.paraphrases, view.procedure, key="f0001")
    faq.save_one(edited, "李强", url=live.url)
    text = live.servers.text_of(f"r-{uuid.uuid4().hex[:6]}", UNSEEN)
    assert EDITED in text and ANSWER not in text


def test_a_gate_failure_keeps_the_live_model(live: Live, finetuned: Trained) -> None:
    """A candidate that does not know a new FAQ (here: the old model, for f0004) is refused and deleted."""
    extra = faq.FaqInput("农机购置补贴怎么申请", "测试答案：以市农业农村局通知为准。", "agri", ["农机补贴咋申请"])
    key = faq.save_one(extra, "王芳", url=live.url)
    candidate = Path(shutil.copy(live.base_model, live.models_dir / "candidates" / "old-model-again.tar.gz"))
    options = Options(actor="王芳", root=live.root, models_dir=live.models_dir, target=live.target, url=live.url)
    try:
        with pytest.raises(GateRefused) as refused:
            consider(options, candidate, "full")
    finally:
        faq.set_enabled(key, False, "王芳", url=live.url)
    assert any(reason.startswith(f"新 FAQ {key} 没有被识别") for reason in refused.value.reasons), refused.value.reasons
    assert not candidate.exists()
    assert Path(finetuned.result.record.file).name in status_model(live)
    assert EDITED in live.servers.text_of(f"r-{uuid.uuid4().hex[:6]}", UNSEEN)
    assert audit.recent(url=live.url)[0].action in ("faq.disable", "gate.refused")


def test_rollback_restores_the_old_behaviour(live: Live, trained: Trained, finetuned: Trained) -> None:
    restored = rollback("李强", live.models_dir, live.target, live.url)
    assert Path(restored.file).name == Path(trained.result.record.file).name  # the model before the finetuning
    assert Path(restored.file).name in status_model(live)
    assert BLOOD not in live.servers.text_of(f"r-{uuid.uuid4().hex[:6]}", BLOOD_UNSEEN)
    assert EDITED in live.servers.text_of(f"r-{uuid.uuid4().hex[:6]}", UNSEEN)
    assert audit.recent(url=live.url)[0].actor == "李强"
