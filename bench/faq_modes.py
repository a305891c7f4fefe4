"""Which way should staff FAQs be learnt? `python -m bench.faq_modes` trains both on the same eight FAQs and
compares them (docs/faq.md, "Retrieval intent or intent per FAQ"):

- **retrieval**: what `python -m bot retrain` generates: one retrieval intent `faq`, a `faq/<key>` label per FAQ
  for the ResponseSelector (kb/faq.py writes the files);
- **intent**: an intent `faq_<key>` per FAQ for DIET, added to a copy of the domain, with a rule each.

Each is a full `rasa train` of a project copy (var/bench/faq-modes/). Measured: training time, NLU hold-out
(in-scope accuracy, out-of-scope recall, misroutes) and how many *unseen* paraphrases of the FAQs (`UNSEEN`,
never trained on) reach their FAQ. Writes bench/faq-modes.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bot.config import ROOT, VAR_DIR
from bot.evaluate import score
from bot.retrain import _holdout_examples, project_copy
from kb import faq
from kb.build import build

# question, office, paraphrases trained on, paraphrases never trained on (the test)
FAQS: list[tuple[str, str, list[str], list[str]]] = [
    (
        "市图书馆几点开门",
        "culture",
        [
            "图书馆开放时间是几点",
            "图书馆周末开门吗",
            "图书馆晚上几点关门",
            "去市图书馆借书啥时候能进",
            "市图书馆营业时间",
        ],
        ["市图书馆今天开不开门呀", "俺想去图书馆看书几点开门", "图书馆节假日开不开"],
    ),
    (
        "公园晚上几点关门",
        "urban",
        ["市里的公园几点关门", "公园夜里开放不", "晚上去公园遛弯几点得出来", "公园开放时间", "公园早上几点开门"],
        ["天中公园夜里几点清场", "晚上九点还能进公园不", "公园啥时候关大门"],
    ),
    (
        "老年人优待证怎么办",
        "civil",
        ["老年证咋办", "俺爹七十了能办老年优待证不", "办老年证要带啥", "老年人优待证在哪申请", "老年卡怎么申领"],
        ["六十五岁能办老年证吗", "给俺娘办个老年优待证找谁", "老年优待证去哪办理"],
    ),
    (
        "献血在哪里献",
        "health",
        ["驻马店哪里可以献血", "无偿献血点在哪", "想献血去哪", "献血屋在什么地方", "义务献血找哪里"],
        ["俺想去献个血该去哪", "献血车一般停在哪", "市里献血的地方在哪"],
    ),
    (
        "房屋维修基金怎么查",
        "housing",
        ["维修基金咋查询", "房子的维修资金在哪查", "住宅专项维修资金余额怎么看", "物业维修基金去哪查", "查维修基金"],
        ["俺家交的维修基金还剩多少咋查", "维修资金余额哪里能看到", "楼里电梯坏了维修基金咋用怎么查"],
    ),
    (
        "农机购置补贴怎么申请",
        "agri",
        ["买拖拉机有补贴吗", "农机补贴咋申请", "收割机补贴去哪办", "购买农机的补贴政策", "农机购置补贴申请流程"],
        ["俺买了台旋耕机能领补贴不", "农机补贴找哪个部门", "买农机补贴多少钱咋申请"],
    ),
    (
        "营业执照年报怎么报",
        "samr",
        ["个体户年报咋报", "营业执照年检在哪弄", "企业年报怎么填", "年报截止到啥时候", "个体工商户年度报告"],
        ["俺开的小店营业执照要年报吗", "企业年度报告在哪报送", "执照年报过期了咋办"],
    ),
    (
        "老年人坐公交免费吗",
        "service",
        ["老人乘公交车要钱不", "七十岁坐公交免票吗", "老年人乘车卡咋办", "公交老年卡在哪办", "老人坐公交有优惠吗"],
        ["俺娘六十八了坐公交花钱不", "老年乘车卡去哪办理", "老年人公交免费卡咋申请"],
    ),
]


def _csv() -> str:
    lines = ["question,answer,office,paraphrases,procedure"]
    for number, (question, office, paraphrases, _) in enumerate(FAQS, 1):
        lines.append(f"{question},测试答案{number}：以主管部门通知为准。,{office},{'|'.join(paraphrases)},查看通知")
    return "\n".join(lines) + "\n"


def _intent_mode(root: Path, views: list[faq.FaqView]) -> None:
    """Replace the generated retrieval data by an intent per FAQ, with its rule and a domain copy that lists it."""
    (root / faq.GENERATED_NLU).unlink()
    (root / faq.GENERATED_RULES).unlink()
    names = {view.key: f"faq_{view.key}" for view in views}
    blocks = [
        {"intent": names[view.key], "examples": "".join(f"- {p}\n" for p in faq._phrases_of(view))} for view in views
    ]
    rules = [
        {"rule": f"FAQ {view.key}", "steps": [{"intent": names[view.key]}, {"action": "action_answer_topic"}]}
        for view in views
    ]
    (root / "data" / "nlu" / "faq_intents.yml").write_text(faq._dump({"version": "3.1", "nlu": blocks}), "utf-8")
    (root / "data" / "rules" / "faq_intents.yml").write_text(faq._dump({"version": "3.1", "rules": rules}), "utf-8")
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
    domain["intents"] = [*domain["intents"], *names.values()]
    (root / "domain.yml").write_text(yaml.safe_dump(domain, allow_unicode=True, sort_keys=False), "utf-8")


def _train(root: Path) -> tuple[Path, float]:
    started = time.monotonic()
    command = [sys.executable, "-m", "rasa", "train", "--config", "config.yml", "--domain", "domain.yml"]
    command += ["--data", "data", "--out", str(root / "models"), "--fixed-model-name", "candidate"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the custom components (bot.nlu) and the store
    with (root / "train.log").open("w", encoding="utf-8") as log:
        subprocess.check_call(command, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
    return root / "models" / "candidate.tar.gz", time.monotonic() - started


async def _predict(model: Path, texts: list[str]) -> list[dict[str, Any]]:
    from bot.evaluate import load_agent

    agent = load_agent(model)
    return [(await agent.parse_message(text))["intent"] for text in texts]


def measure(mode: str, views: list[faq.FaqView], url: str) -> dict[str, Any]:
    root = project_copy(VAR_DIR / "bench" / "faq-modes" / mode)
    faq.write_training_data(root, url)
    if mode == "intent":
        _intent_mode(root, views)
    model, seconds = _train(root)
    holdout = _holdout_examples(root)
    unseen = [(view, text) for view, (*_, tests) in zip(views, FAQS, strict=True) for text in tests]
    intents = asyncio.run(_predict(model, [text for text, _ in holdout] + [text for _, text in unseen]))
    holdout_intents, unseen_intents = intents[: len(holdout)], intents[len(holdout) :]

    def label(intent: dict[str, Any]) -> str:
        name = faq.topic_intent(intent, url)
        return f"faq/{name.removeprefix('faq_')}" if name.startswith("faq_") else name

    report = score([(text, expected, label(i)) for (text, expected), i in zip(holdout, holdout_intents, strict=True)])
    hits = [label(i) == view.intent for (view, _), i in zip(unseen, unseen_intents, strict=True)]
    wrong_topic = [
        f"{text} → {label(i)}"
        for (view, text), i in zip(unseen, unseen_intents, strict=True)
        if label(i) != view.intent and label(i) not in ("nlu_fallback", "out_of_scope")
    ]
    return {
        "train_seconds": round(seconds, 1),
        "holdout_in_scope_accuracy": round(report.in_scope_accuracy, 3),
        "holdout_oos_recall": round(report.oos_recall, 3),
        "holdout_misroutes": report.misroutes,
        "unseen_faq_paraphrases": f"{sum(hits)}/{len(hits)}",
        "unseen_sent_to_another_topic": wrong_topic,
    }


def main() -> int:
    work = VAR_DIR / "bench" / "faq-modes"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    url = f"sqlite:///{work / 'kb.sqlite3'}"
    build(url)
    (work / "faqs.csv").write_text(_csv(), encoding="utf-8")
    faq.import_csv(work / "faqs.csv", "bench", url=url)
    views = faq.list_faqs(url, enabled_only=True)
    results = {mode: measure(mode, views, url) for mode in ("retrieval", "intent")}
    (ROOT / "bench" / "faq-modes.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), "utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
