"""FAQs become Rasa training data (a retrieval intent per FAQ), answered from the KB; jieba preview and terms."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.loading import load_data
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import ActionAnswerTopic
from bot.config import ROOT
from bot.retrain import ModelRecord, can_finetune, inputs_hash, labels_of, write_labelled_examples
from kb import audit, faq

ITEM = faq.FaqInput(
    question="市图书馆几点开门",
    answer="测试答案：开放时间以市文广旅局通知为准。",
    office="culture",
    paraphrases=["图书馆开放时间", "图书馆周末开不开"],
    procedure=["先查通知"],
)


def project_copy(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(ROOT / "data", root / "data", ignore=shutil.ignore_patterns("*_generated.yml"))
    (root / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "nlu_holdout.yml", root / "tests" / "nlu_holdout.yml")
    return root


def test_faqs_are_generated_as_retrieval_intents_rasa_can_load(tmp_path: Path, kb_url: str) -> None:
    root = project_copy(tmp_path)
    assert faq.write_training_data(root, kb_url) == []  # no FAQs: no generated files, the data is as committed
    assert not (root / faq.GENERATED_NLU).exists()
    key = faq.save_one(ITEM, "王芳", url=kb_url)
    nlu, rules = faq.write_training_data(root, kb_url)
    data = load_data(str(nlu))
    assert data.retrieval_intents == {"faq"}
    assert {(m.get("text"), m.get("intent_response_key")) for m in data.intent_examples} == {
        ("市图书馆几点开门", f"faq/{key}"),
        ("图书馆开放时间", f"faq/{key}"),
        ("图书馆周末开不开", f"faq/{key}"),
    }
    rule = yaml.safe_load(rules.read_text(encoding="utf-8"))["rules"][0]
    assert rule["steps"] == [{"intent": "faq"}, {"action": "action_answer_topic"}]
    assert nlu.read_text(encoding="utf-8").startswith("# GENERATED")
    assert f"faq/{key}" in labels_of(root)
    assert data.responses == {}  # answered from the KB; no response per key, so the domain does not change
    faq.set_enabled(key, False, "王芳", url=kb_url)
    assert faq.write_training_data(root, kb_url) == [] and not nlu.exists() and not rules.exists()


def faq_tracker(key: str, text: str) -> Tracker:
    intent = {"name": "faq", "confidence": 0.97, "full_retrieval_intent_name": f"faq/{key}"}
    return Tracker.from_dict(
        {
            "sender_id": "r1",
            "slots": {},
            "latest_message": {"text": text, "intent": intent, "entities": []},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


async def test_the_answer_action_answers_a_faq_from_the_kb_with_its_office(kb_url: str, domain: dict) -> None:
    key = faq.save_one(ITEM, "王芳", url=kb_url)
    dispatcher = CollectingDispatcher()
    await ActionAnswerTopic().run(dispatcher, faq_tracker(key, "图书馆今天开门不"), domain)
    text = dispatcher.messages[0]["text"]
    assert "驻马店市文化广电和旅游局" in text and "先查通知" in text
    assert "测试答案：开放时间以市文广旅局通知为准。" in text
    faq.save_one(faq.FaqInput(**{**vars(ITEM), "answer": "测试答案（已修改）。", "key": key}), "李强", url=kb_url)
    dispatcher = CollectingDispatcher()
    await ActionAnswerTopic().run(dispatcher, faq_tracker(key, "图书馆今天开门不"), domain)
    assert "测试答案（已修改）。" in dispatcher.messages[0]["text"]


def test_messages_labelled_in_the_inbox_become_examples_but_never_hold_out_texts(tmp_path: Path) -> None:
    """Retraining writes the console's labels with the inbox's own writer into the project it trains."""
    import sqlalchemy as sa

    from bot.conversations import inbox
    from tests.logs.fixtures_stats import index, save, turn

    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    assert write_labelled_examples(project_copy(tmp_path), url) == 0  # no conversation log yet: nothing to add
    holdout = yaml.safe_load((ROOT / "tests" / "nlu_holdout.yml").read_text(encoding="utf-8"))
    block = next(b for b in holdout["nlu"] if b["intent"] == "ask_sscard_apply")
    holdout_text = block["examples"].splitlines()[0].removeprefix("- ").strip()
    new_text = "俺那社保卡叫水泡坏了咋整呀"
    save(
        url,
        "r1",
        [
            *turn(new_text, "nlu_fallback", 0.3, 1e9, "rest", 100),
            *turn(holdout_text, "nlu_fallback", 0.3, 1e9 + 9, "rest", 100),
        ],
    )
    assert index(url) > 0
    engine = sa.create_engine(url, future=True)
    with engine.connect() as connection:
        ids = [row[0] for row in connection.execute(sa.text("SELECT event_id FROM log_messages"))]
    inbox.label(engine, ids, "ask_sscard_apply", "王芳", path=tmp_path / "console-reviewed.yml")
    root = tmp_path / "project"
    assert write_labelled_examples(root, url) == 1
    data = load_data(str(root / "data" / "nlu" / "reviewed.yml"))
    assert [(m.get("text"), m.get("intent")) for m in data.intent_examples] == [(new_text, "ask_sscard_apply")]
    assert (root / "data" / "nlu" / "reviewed.yml").read_text(encoding="utf-8") == (
        tmp_path / "console-reviewed.yml"
    ).read_text(encoding="utf-8")


def test_jieba_preview_and_a_staff_term(tmp_path: Path, kb_url: str) -> None:
    folder = tmp_path / "jieba"
    folder.mkdir()
    before = faq.segment("我想问天中晒书节在哪办", folder)
    assert "天中晒书节" not in before
    assert faq.add_terms(["天中晒书节", "天中晒书节"], "王芳", url=kb_url) == ["天中晒书节"]
    faq.write_staff_dictionary(folder, url=kb_url)
    assert "天中晒书节" in faq.segment("我想问天中晒书节在哪办", folder)
    assert audit.recent(url=kb_url)[0].action == "jieba.add"


def test_the_gate_names_an_accuracy_drop_and_an_unrecognised_faq() -> None:
    from bot.retrain import Scores, gate

    ok = Scores(0.975, 0.98, 0.99, 1, [], {}, 1)
    assert gate(ok, baseline=0.98) == []
    worse = Scores(0.95, 0.95, 0.99, 4, [], {"f0002": ["公园几点关门（识别为 out_of_scope）"]}, 1)
    assert gate(worse, baseline=0.98) == [
        "留出集准确率从 0.980 降到 0.950，下降超过 1 个百分点（常见原因：新 FAQ 的问法和已有话题太像）",
        "新 FAQ f0002 没有被识别：公园几点关门（识别为 out_of_scope）",
    ]


def test_rollback_without_a_previous_model_says_so(
    tmp_path: Path, kb_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from bot.cli import main

    monkeypatch.setenv("MODELS_DIR", str(tmp_path / "models"))
    assert main(["rollback", "--by", "李强"]) == 1
    assert "没有可以回滚到的上一个模型" in capsys.readouterr().err


def test_with_a_single_faq_the_bare_faq_intent_means_that_faq(kb_url: str) -> None:
    """Rasa's ResponseSelector needs two labels: with one staff FAQ only the intent `faq` is predicted."""
    assert faq.topic_intent({"name": "faq"}) == "faq"  # no FAQ at all: nothing to resolve to
    key = faq.save_one(ITEM, "王芳", url=kb_url)
    assert faq.topic_intent({"name": "faq"}) == f"faq/{key}"
    other = faq.FaqInput("公园几点关门", "测试答案：以市城管局通知为准。", "urban", ["公园晚上几点关门"])
    faq.save_one(other, "王芳", url=kb_url)
    assert faq.topic_intent({"name": "faq"}) == "faq"  # two FAQs: only the selector can tell
    assert faq.topic_intent({"name": "faq", "full_retrieval_intent_name": f"faq/{key}"}) == f"faq/{key}"
    assert faq.topic_intent({"name": "ask_sscard_apply"}) == "ask_sscard_apply"


def test_invalid_training_data_stops_the_training_and_says_why(tmp_path: Path) -> None:
    from bot.retrain import RetrainError, validate_and_train
    from bot.retrain import project_copy as full_project_copy

    root = full_project_copy(tmp_path / "invalid")
    # A hand-edited file that breaks Rasa's schema (rasa data validate fails on errors, only warns on the rest).
    (root / "data" / "nlu" / "broken.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: thanks\n  examples: 5\n', "utf-8"
    )
    out, log = tmp_path / "models", tmp_path / "retrain.log"
    log.write_text("", encoding="utf-8")
    with pytest.raises(RetrainError, match="校验失败"):
        validate_and_train(root, out, "candidate", None, log)
    assert not (out / "candidate.tar.gz").exists()
    assert "broken.yml" in (tmp_path / "retrain-validate.log").read_text(encoding="utf-8")  # Rasa's reason, kept
    assert "Your Rasa model is trained" not in log.read_text(encoding="utf-8")


def test_another_faq_keeps_rasas_labels_so_it_can_be_finetuned_in(tmp_path: Path, kb_url: str) -> None:
    """Rasa finetunes only when the labels (intents, entities, actions) and the domain are as before; FAQ keys are
    not Rasa labels, so a third FAQ (or a disabled one) is finetuned, while the first FAQs need a full training."""
    root = project_copy(tmp_path)
    for name in ("config.yml", "domain.yml"):
        shutil.copy(ROOT / name, root / name)
    before = labels_of(root)
    first = [
        faq.save_one(faq.FaqInput(**{**vars(ITEM), "question": q, "paraphrases": []}), "王芳", url=kb_url)
        for q in ("市图书馆几点开门", "公园晚上几点关门")
    ]
    nlu, _ = faq.write_training_data(root, kb_url)
    two = ModelRecord("m.tar.gz", "", "", "full", labels=labels_of(root), inputs=inputs_hash(root))
    fingerprint = load_data(str(root / "data" / "nlu")).label_fingerprint()
    base = ModelRecord("base.tar.gz", "", "", "full", labels=before, inputs=two.inputs)
    assert not can_finetune(base, two.labels, two.inputs)  # the intent `faq` is new

    faq.save_one(faq.FaqInput(**{**vars(ITEM), "question": "献血在哪里献", "paraphrases": []}), "王芳", url=kb_url)
    faq.write_training_data(root, kb_url)
    assert load_data(str(root / "data" / "nlu")).label_fingerprint() == fingerprint  # what Rasa's finetuning checks
    assert len(labels_of(root)) == len(two.labels) + 1
    assert can_finetune(two, labels_of(root), inputs_hash(root))

    faq.set_enabled(first[0], False, "王芳", url=kb_url)  # two FAQs left: the selector still has two to tell apart
    faq.write_training_data(root, kb_url)
    assert can_finetune(two, labels_of(root), inputs_hash(root))
    faq.set_enabled(first[1], False, "王芳", url=kb_url)  # one left: Rasa trains no selector for one label
    faq.write_training_data(root, kb_url)
    assert not can_finetune(two, labels_of(root), inputs_hash(root))
    (root / "config.yml").write_text((root / "config.yml").read_text() + "\n# changed\n")
    assert not can_finetune(two, two.labels, inputs_hash(root))
    assert nlu.is_file()


@pytest.mark.parametrize(
    ("outcomes", "attempts", "deployed"),
    [
        (["ok"], [("finetune", False)], True),
        (["faq", "ok"], [("finetune", False), ("full", False)], True),  # finetuning did not learn it
        (["fail", "ok"], [("finetune", False), ("full", False)], True),  # Rasa refused to finetune
        (["faq", "accuracy", "ok"], [("finetune", False), ("full", False), ("full", True)], True),
        (["faq", "accuracy", "accuracy"], [("finetune", False), ("full", False), ("full", True)], False),
        (["faq", "faq"], [("finetune", False), ("full", False)], False),  # a FAQ not learnt: no third try
    ],
)
def test_a_refused_or_failed_training_falls_back_but_a_refusal_stands_in_the_end(
    monkeypatch: pytest.MonkeyPatch, outcomes: list[str], attempts: list[tuple[str, bool]], deployed: bool
) -> None:
    """Finetune → full training → (refused for hold-out accuracy alone) one full training without Rasa's cache."""
    from bot import retrain

    tried: list[tuple[str, bool]] = []

    def attempt(options, models_dir, mode, base, faqs, seconds, fresh=False):  # type: ignore[no-untyped-def]
        tried.append((mode, fresh))
        outcome = outcomes[len(tried) - 1]
        if outcome == "fail":
            raise retrain.TrainingFailed("训练失败")
        if outcome in ("faq", "accuracy"):
            raise retrain.GateRefused([outcome], faqs_missed=outcome == "faq")
        return retrain.RetrainResult(ModelRecord("m.tar.gz", "", "", mode), True)

    monkeypatch.setattr(retrain, "_train_and_consider", attempt)
    options = retrain.Options(actor="王芳", progress=lambda _: None)
    if deployed:
        result = retrain.train_with_fallbacks(options, Path("models"), Path("live.tar.gz"), 2, {})
        assert result.record.mode == attempts[-1][0]
    else:
        with pytest.raises(retrain.GateRefused):
            retrain.train_with_fallbacks(options, Path("models"), Path("live.tar.gz"), 2, {})
    assert tried == attempts


def test_numbers_in_faq_phrases_are_masked_in_training_data_and_export(tmp_path: Path, kb_url: str) -> None:
    """Issue 17.3: every writer of training data, FAQ files and exports masks (a paraphrase pasted from a chat)."""
    root = project_copy(tmp_path)
    item = faq.FaqInput(
        question="图书馆几点开门，我电话一三八零零一三八零零零",
        answer="测试答案：开放时间以市文广旅局通知为准。",
        office="culture",
        paraphrases=["图书馆开放时间", "卡号6222 0212 3456 7890 能借书吗", "图书馆周末开不开"],
    )
    faq.save_one(item, "王芳", url=kb_url)
    nlu, _ = faq.write_training_data(root, kb_url)
    texts = {m.get("text") for m in load_data(str(nlu)).intent_examples}
    assert texts == {"图书馆几点开门，我电话[手机号]", "图书馆开放时间", "卡号[银行卡号] 能借书吗", "图书馆周末开不开"}
    exported = faq.export_csv(kb_url)
    assert "一三八零零" not in exported and "6222" not in exported
    assert "[手机号]" in exported and "[银行卡号]" in exported
