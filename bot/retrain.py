"""Retrain behind a quality gate, put the model live in the running Rasa server, keep five, roll back.

``python -m bot retrain``:
1. generates the FAQ training data (``data/nlu/faq_generated.yml``, ``data/rules/faq_generated.yml``), the staff
   jieba dictionary and the examples labelled in the console's misunderstood inbox (``data/nlu/reviewed.yml``);
2. flags new FAQs whose questions the live model already answers with another topic at high confidence;
3. ``rasa data validate``, beside
4. the training: ``--finetune`` from the live model when the labels, domain and config are unchanged (new examples for
   existing intents and FAQs), a full train otherwise (Rasa's training cache reuses unchanged components);
5. evaluates on the NLU hold-out file and on every new FAQ's question and paraphrases;
6. refuses, saying why, if hold-out accuracy drops by more than one point or a new FAQ is not recognised;
7. otherwise puts it live on every Rasa instance (bot/deploy.py: ``PUT /model`` to the one server of `make run`,
   or the model server every instance of `make run-cluster` pulls from; Rasa loads the new model, then swaps it
   in: no request fails); the model and its scores go into ``MODELS_DIR/registry.json``, which keeps the last five.

``python -m bot rollback`` puts the previous model back. Every step is in the audit log (``kb.audit``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import yaml

from bot.config import ROOT, VAR_DIR, settings
from bot.deploy import DeployError, Target, model_id
from bot.deploy import deploy as deploy_everywhere
from kb import audit, faq

KEEP_MODELS = 5
MAX_ACCURACY_DROP = 0.01  # one point of hold-out accuracy
# A quarter of the epochs when finetuning (10 of DIET's 40): a new FAQ measured 21 of 24 unseen paraphrases with
# no misroute on the hold-out; half the epochs took 20 s longer and misrouted 3 hold-out messages.
FINETUNE_EPOCH_FRACTION = 0.25
HOLDOUT = Path("tests/nlu_holdout.yml")
REVIEWED_NLU = Path("data/nlu/reviewed.yml")  # the same file the console's inbox writes
REGISTRY = "registry.json"
Progress = Callable[[str], None]


class GateRefused(Exception):
    """The candidate model is not good enough; `reasons` say why (in Chinese, for staff)."""

    def __init__(self, reasons: list[str], faqs_missed: bool = True) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
        self.faqs_missed = faqs_missed  # False: refused for the hold-out accuracy alone


class RetrainError(Exception):
    """A step failed (validation, training, deploy); the message says which and what to do."""


@dataclass
class ModelRecord:
    file: str
    trained_at: str
    trained_by: str
    mode: str  # full | finetune | initial
    labels: list[str] = field(default_factory=list)
    inputs: str = ""  # hash of config, domain and the generated FAQ rule: finetune only when unchanged
    model_id: str = ""  # Rasa's id of the model (its metadata), which each instance's /status reports
    holdout_accuracy: float | None = None
    in_scope_accuracy: float | None = None
    oos_recall: float | None = None
    misroutes: int | None = None
    faq_recognised: int = 0
    faq_checked: int = 0
    status: str = "candidate"  # candidate | live | previous | refused | retired
    deployed_at: str = ""


@dataclass
class RetrainResult:
    record: ModelRecord
    deployed: bool
    flags: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


# --- registry --------------------------------------------------------------------------------------------------


def load_registry(models_dir: Path) -> list[ModelRecord]:
    path = models_dir / REGISTRY
    if not path.is_file():
        return []
    return [ModelRecord(**item) for item in json.loads(path.read_text(encoding="utf-8"))["models"]]


def save_registry(models_dir: Path, records: list[ModelRecord]) -> None:
    models_dir.mkdir(parents=True, exist_ok=True)
    data = {"models": [asdict(record) for record in records]}
    temporary = models_dir / f".{REGISTRY}.tmp"
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    temporary.replace(models_dir / REGISTRY)


def live_record(records: list[ModelRecord]) -> ModelRecord | None:
    return next((r for r in reversed(records) if r.status == "live"), None)


def _prune(models_dir: Path, records: list[ModelRecord]) -> list[ModelRecord]:
    """Keep the last KEEP_MODELS deployed models (live and previous); delete older files this registry made."""
    deployed = [r for r in records if r.status in ("live", "previous")]
    for old in deployed[:-KEEP_MODELS]:
        with contextlib.suppress(FileNotFoundError):
            Path(old.file).unlink()
        gate_file(Path(old.file)).unlink(missing_ok=True)
        old.status = "retired"
    return [r for r in records if r.status != "retired"][-(KEEP_MODELS * 4) :]


# --- training data ---------------------------------------------------------------------------------------------


def _nlu_intents(root: Path) -> set[str]:
    intents: set[str] = set()
    for path in (root / "data" / "nlu").glob("*.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        intents.update(str(block["intent"]) for block in data.get("nlu") or [] if "intent" in block)
    return intents


def write_labelled_examples(root: Path, url: str | None = None) -> int:
    """Messages labelled in the console's misunderstood inbox → `root`/data/nlu/reviewed.yml, by the inbox's own
    writer (hold-out texts and sentences already in the training data are left out); 0 with no conversation log."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.conversations.inbox import write_reviewed_nlu
    from kb.session import get_engine

    try:
        return write_reviewed_nlu(get_engine(url), root / REVIEWED_NLU)
    except SQLAlchemyError:  # a KB-only database: nothing has been labelled
        return 0


def _holdout_examples(root: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load((root / HOLDOUT).read_text(encoding="utf-8")) if (root / HOLDOUT).is_file() else {}
    pairs = []
    for block in (data or {}).get("nlu") or []:
        for line in str(block.get("examples") or "").splitlines():
            if line.strip().startswith("- "):
                pairs.append((line.strip()[2:].strip(), str(block.get("intent"))))
    return pairs


def labels_of(root: Path) -> list[str]:
    """What the model learns to tell apart: every intent and every FAQ key."""
    return sorted(_nlu_intents(root))


def inputs_hash(root: Path) -> str:
    """What must be unchanged for `--finetune`: the config, the domain and the generated FAQ rule."""
    digest = hashlib.sha256()
    for name in ("config.yml", "domain.yml", str(faq.GENERATED_RULES)):
        path = root / name
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()


def rasa_labels(labels: list[str]) -> list[str]:
    """The labels Rasa's finetuning compares: intents, a retrieval intent once (`faq`, not `faq/f0001`)."""
    return sorted({label.split("/")[0] for label in labels})


def faq_keys(labels: list[str]) -> int:
    return sum(label.startswith(faq.RETRIEVAL_INTENT + "/") for label in labels)


def can_finetune(live: ModelRecord | None, labels: list[str], inputs: str) -> bool:
    """`--finetune` applies: same config, domain and Rasa labels as the live model. FAQs may be added, edited or
    disabled (the FAQ selector's labels are features of their text, bot/nlu/faq_selector.py), as long as the selector
    was trained before and still has two FAQs to tell apart (with fewer Rasa trains no selector)."""
    if live is None or not live.labels or live.inputs != inputs or rasa_labels(live.labels) != rasa_labels(labels):
        return False
    return faq_keys(labels) == faq_keys(live.labels) == 0 or min(faq_keys(labels), faq_keys(live.labels)) >= 2


# --- steps -----------------------------------------------------------------------------------------------------


def _start_rasa(args: list[str], root: Path, log: Path) -> subprocess.Popen[bytes]:
    """Rasa in `root` (a copy of the project in tests), with this project's `bot` package importable."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    with log.open("a", encoding="utf-8") as out:
        command = [sys.executable, "-m", "rasa", *args]
        return subprocess.Popen(command, cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env)


class TrainingFailed(RetrainError):
    """`rasa train` itself failed (the data passed validation)."""


def validate_and_train(root: Path, out: Path, name: str, base: Path | None, log: Path, fresh: bool = False) -> Path:
    """`rasa data validate` beside `rasa train`: each keeps one core busy for the first seconds, so the check costs
    no time; invalid data stops the training and nothing is trained from it. (`rasa train` would validate the same
    data again before training: skipped.)"""
    check = ["data", "validate", "--max-history", "5", "--data", "data", "--domain", "domain.yml"]
    check += ["--config", "config.yml"]
    args = ["train", "--skip-validation", "--config", "config.yml", "--domain", "domain.yml", "--data", "data"]
    args += ["--out", str(out), "--fixed-model-name", name]
    if base is not None:
        args += ["--finetune", str(base), "--epoch-fraction", str(FINETUNE_EPOCH_FRACTION)]
    if fresh:
        args += ["--force"]  # every component trains again instead of coming from Rasa's cache
    validate_log = log.with_name(log.stem + "-validate.log")
    validate_log.write_text("", encoding="utf-8")
    validation = _start_rasa(check, root, validate_log)
    training = _start_rasa(args, root, log)
    try:
        if validation.wait() != 0:
            training.kill()
            raise RetrainError(f"训练数据校验失败（rasa data validate），详情见 {validate_log}")
        if training.wait() != 0 or not (out / f"{name}.tar.gz").is_file():
            raise TrainingFailed(f"训练失败，详情见 {log}")
    finally:
        for process in (validation, training):
            if process.poll() is None:
                process.kill()
            process.wait()
    return out / f"{name}.tar.gz"


@dataclass
class Scores:
    accuracy: float
    in_scope_accuracy: float
    oos_recall: float
    misroutes: int
    errors: list[dict[str, str]]
    faq_missed: dict[str, list[str]]  # FAQ key → its phrases the model did not give to it
    faq_checked: int
    parses: list[dict[str, Any]] = field(default_factory=list)  # what the model said of each hold-out message


def gate_file(model: Path) -> Path:
    """The gate's parse of every hold-out message, kept beside the model: the live servers must answer the same."""
    return model.with_name(model.name.removesuffix(".tar.gz") + ".gate.json")


def parse_record(text: str, parsed: dict[str, Any]) -> dict[str, Any]:
    """The parts of a parse that must be the same wherever the model answers: intent, confidence, ranking."""
    intent = parsed.get("intent") or {}
    ranking = [[r.get("name"), r.get("confidence")] for r in parsed.get("intent_ranking") or []]
    return {"text": text, "intent": intent.get("name"), "confidence": intent.get("confidence"), "ranking": ranking}


def evaluate(model: Path, root: Path, new_faqs: list[faq.FaqView], url: str | None = None) -> Scores:
    """Hold-out accuracy and whether each new FAQ's phrases reach that FAQ, with the model loaded once."""
    import asyncio

    from bot.evaluate import score

    pairs, faq_pairs, parses = asyncio.run(_predict(model, _holdout_examples(root), new_faqs, url))
    report = score(pairs)
    missed: dict[str, list[str]] = {}
    for view, phrase, predicted in faq_pairs:
        if predicted != view.intent:
            missed.setdefault(view.key, []).append(f"{phrase}（识别为 {predicted}）")
    return Scores(
        report.accuracy,
        report.in_scope_accuracy,
        report.oos_recall,
        report.misroutes,
        report.errors,
        missed,
        len({view.key for view, _, _ in faq_pairs}),
        parses,
    )


async def _predict(
    model: Path, holdout: list[tuple[str, str]], new_faqs: list[faq.FaqView], url: str | None = None
) -> tuple[list[tuple[str, str, str]], list[tuple[faq.FaqView, str, str]], list[dict[str, Any]]]:
    from bot.evaluate import load_agent, routed_intent

    agent = load_agent(model)
    parses: list[dict[str, Any]] = []

    async def intent_of(text: str) -> str:
        parsed = await agent.parse_message(text)
        parses.append(parse_record(text, parsed))
        # An emergency is scored as the topic that handles the same situation, as `make holdout` does.
        return faq.topic_intent({**parsed["intent"], "name": routed_intent(parsed)}, url)

    pairs = [(text, expected, await intent_of(text)) for text, expected in holdout]
    holdout_parses = list(parses)
    faq_pairs = [(view, p, await intent_of(p)) for view in new_faqs for p in faq._phrases_of(view)]
    return pairs, faq_pairs, holdout_parses


def gate(scores: Scores, baseline: float | None) -> list[str]:
    """Why the candidate must not go live (empty: it may)."""
    reasons = []
    if baseline is not None and scores.accuracy < baseline - MAX_ACCURACY_DROP:
        reasons.append(
            f"留出集准确率从 {baseline:.3f} 降到 {scores.accuracy:.3f}，下降超过 1 个百分点"
            "（常见原因：新 FAQ 的问法和已有话题太像）"
        )
    for key, phrases in sorted(scores.faq_missed.items()):
        reasons.append(f"新 FAQ {key} 没有被识别：{'；'.join(phrases[:5])}")
    return reasons


def deploy(target: Target, model: Path, timeout: float = 300, say: Progress | None = None) -> None:
    """Put `model` live on every Rasa instance (bot/deploy.py: PUT /model to the one server, or the cluster's model
    server that every instance pulls from)."""
    try:
        lagging = deploy_everywhere(target, model, timeout)
    except (DeployError, requests.RequestException) as error:
        raise RetrainError(str(error)) from error
    if lagging and say is not None:
        say(
            f"提示：实例 {'、'.join(lagging)} 尚未加载新模型（停机或太忙）；它们恢复后会自动加载。"
            "控制台“训练与上线”页列出每个实例当前的模型。"
        )


def server_parse(target: Target) -> faq.Parse:
    def parse(text: str) -> dict[str, Any]:
        response = requests.post(
            f"{target.url}/model/parse", params={"token": target.token}, json={"text": text}, timeout=30
        )
        response.raise_for_status()
        return dict(response.json())

    return parse


@contextlib.contextmanager
def _single_run(models_dir: Path) -> Iterator[None]:
    """One retrain or rollback at a time (the console button and the CLI share this lock)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with (models_dir / ".retrain.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise RetrainError("已有一次训练或回滚正在进行，请等它结束") from error
        yield


# --- the whole loop --------------------------------------------------------------------------------------------


@dataclass
class Options:
    actor: str
    root: Path = ROOT
    models_dir: Path | None = None
    target: Target | None = None  # None: settings (RASA_URL, RASA_TOKEN or var/rasa-token)
    url: str | None = None  # KB database
    deploy: bool = True
    allow_finetune: bool = True
    progress: Progress = print


def _baseline(
    options: Options, records: list[ModelRecord], models_dir: Path
) -> tuple[ModelRecord | None, float | None]:
    """The live model's record and hold-out accuracy (measured now and remembered if it was never measured)."""
    live = live_record(records)
    if live is None:
        from bot.training import latest_model

        current = latest_model(models_dir)
        if current is None:
            return None, None
        live = ModelRecord(str(current.resolve()), "", "", "initial", status="live", model_id=model_id(current))
        records.append(live)
    if live.holdout_accuracy is None and Path(live.file).is_file():
        options.progress(f"评估当前模型 {Path(live.file).name}（留出集）")
        scores = evaluate(Path(live.file), options.root, [], options.url)
        live.holdout_accuracy, live.in_scope_accuracy = scores.accuracy, scores.in_scope_accuracy
        live.oos_recall, live.misroutes = scores.oos_recall, scores.misroutes
        save_registry(models_dir, records)
    return live, live.holdout_accuracy


def score_live_model(options: Options, models_dir: Path) -> float | None:
    """Measure and remember the live model's hold-out accuracy now (a retrain does it first when it is unknown)."""
    records = load_registry(models_dir)
    return _baseline(options, records, models_dir)[1]


def prepare_data(options: Options) -> list[faq.FaqView]:
    """Generated training files; returns the enabled FAQs."""
    faq.write_training_data(options.root, options.url)
    faq.write_staff_dictionary(options.root / "var" / "jieba", options.url)
    count = write_labelled_examples(options.root, options.url)
    if count:
        options.progress(f"误解收件箱中已标注的 {count} 条消息加入训练数据")
    return faq.list_faqs(options.url, enabled_only=True)


def retrain(options: Options) -> RetrainResult:
    models_dir = options.models_dir or settings().models_dir
    with _single_run(models_dir):
        return _retrain(options, models_dir)


def _retrain(options: Options, models_dir: Path) -> RetrainResult:
    started = time.monotonic()
    say = options.progress
    _log_file(options)  # a fresh log for this run
    say("1/6 生成训练数据（FAQ、词典、已标注消息）")
    faqs = prepare_data(options)
    records = load_registry(models_dir)
    live, _ = _baseline(options, records, models_dir)
    flags = _collisions(options.target or Target.from_settings(), _new_faqs(faqs, live), say)
    finetune = options.allow_finetune and can_finetune(live, labels_of(options.root), inputs_hash(options.root))
    say("2/6 校验训练数据（rasa data validate，与训练同时进行；数据有误则停止训练）")
    seconds = {"prepare": time.monotonic() - started}
    base = Path(live.file) if finetune and live is not None else None
    result = train_with_fallbacks(options, models_dir, base, len(faqs), seconds)
    result.flags = flags
    return result


def train_with_fallbacks(
    options: Options, models_dir: Path, base: Path | None, faqs: int, seconds: dict[str, float]
) -> RetrainResult:
    """Finetune from `base` if given; if that fails or is refused, a full training; if that is refused for the
    hold-out accuracy alone, one more full training without Rasa's cache. The last refusal stands."""
    say = options.progress
    if base is not None:
        try:
            return _train_and_consider(options, models_dir, "finetune", base, faqs, seconds)
        except (TrainingFailed, GateRefused) as error:
            # Finetuning could not learn it (or Rasa refused to finetune): a full training still may.
            say(f"微调未成功（{error}），改为完整训练")
    try:
        return _train_and_consider(options, models_dir, "full", None, faqs, seconds)
    except GateRefused as refusal:
        if refusal.faqs_missed:
            raise
        # Two full trainings of the same data differ by up to a point of hold-out accuracy here (TensorFlow on two
        # CPU cores is not deterministic: 0.971 and 0.981 seen on one day), as much as the gate allows. A refusal
        # for accuracy alone stands only if a second training, not from Rasa's cache, is refused too.
        say(f"完整训练的模型未通过质量闸门（{refusal}）；训练结果有随机波动，再完整训练一次")
        return _train_and_consider(options, models_dir, "full", None, faqs, seconds, fresh=True)


def _train_and_consider(
    options: Options,
    models_dir: Path,
    mode: str,
    base: Path | None,
    faqs: int,
    seconds: dict[str, float],
    fresh: bool = False,
) -> RetrainResult:
    """Train a candidate (finetuned from `base`, or in full), then evaluate, gate and deploy it; `seconds` adds up
    the time of each step over the attempts."""
    say = options.progress
    say(f"3/6 训练（{'在当前模型上微调 --finetune' if base else '完整训练'}）")
    candidates = models_dir / "candidates"
    candidates.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.utcnow():%Y%m%d-%H%M%S}-{mode}"
    audit.record(options.actor, "train", name, {"mode": mode, "faqs": faqs}, url=options.url)
    started = time.monotonic()
    try:
        model = validate_and_train(options.root, candidates, name, base, _log_file(options, append=True), fresh)
    finally:
        seconds["train"] = seconds.get("train", 0.0) + time.monotonic() - started
    result = consider(options, model, mode, models_dir)
    for step, value in result.seconds.items():
        seconds[step] = seconds.get(step, 0.0) + value
    result.seconds = seconds
    return result


def _log_file(options: Options, append: bool = False) -> Path:
    log = VAR_DIR / "retrain.log" if options.root == ROOT else options.root / "retrain.log"
    if not append:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"retrain {datetime.utcnow().isoformat()} by {options.actor}\n", encoding="utf-8")
    return log


def _new_faqs(faqs: list[faq.FaqView], live: ModelRecord | None) -> list[faq.FaqView]:
    """FAQs the live model was not trained on (all of them when its labels are unknown)."""
    return [view for view in faqs if live is None or not live.labels or view.intent not in live.labels]


def consider(options: Options, model: Path, mode: str, models_dir: Path | None = None) -> RetrainResult:
    """Evaluate a candidate model, refuse it (GateRefused, file deleted) or put it live and register it."""
    folder = models_dir or options.models_dir or settings().models_dir
    say, target = options.progress, options.target or Target.from_settings()
    records = load_registry(folder)
    live, baseline = _baseline(options, records, folder)
    new_faqs = _new_faqs(faq.list_faqs(options.url, enabled_only=True), live)
    started = time.monotonic()
    say(f"4/6 评估（留出集 + {len(new_faqs)} 个新 FAQ 的问法）")
    scores = evaluate(model, options.root, new_faqs, options.url)
    record = ModelRecord(
        file=str(model),
        trained_at=datetime.utcnow().isoformat(timespec="seconds"),
        trained_by=options.actor,
        mode=mode,
        labels=labels_of(options.root),
        inputs=inputs_hash(options.root),
        holdout_accuracy=scores.accuracy,
        in_scope_accuracy=scores.in_scope_accuracy,
        oos_recall=scores.oos_recall,
        misroutes=scores.misroutes,
        faq_recognised=scores.faq_checked - len(scores.faq_missed),
        faq_checked=scores.faq_checked,
        model_id=model_id(model),
    )
    seconds = {"evaluate": time.monotonic() - started}
    reasons = gate(scores, baseline)
    say(
        f"5/6 质量闸门：留出集准确率 {scores.accuracy:.3f}（当前 {_fmt(baseline)}），新 FAQ 识别 "
        f"{record.faq_recognised}/{record.faq_checked}"
    )
    if reasons:
        record.status = "refused"
        model.unlink(missing_ok=True)
        save_registry(folder, [*records, record])
        audit.record(options.actor, "gate.refused", model.name, {"reasons": reasons}, url=options.url)
        raise GateRefused(reasons, faqs_missed=bool(scores.faq_missed))
    final = folder / model.name
    if final != model:
        shutil.move(str(model), final)
    record.file = str(final.resolve())
    gate_file(final).write_text(json.dumps(scores.parses, ensure_ascii=False), encoding="utf-8")
    started = time.monotonic()
    if options.deploy:
        where = f"模型服务器，{len(target.instances)} 个实例" if target.live_model else f"PUT /model 到 {target.url}"
        say(f"6/6 上线（{where}）")
        deploy(target, final, say=say)
        _mark_live(records, record)
        audit.record(options.actor, "deploy", final.name, {"accuracy": scores.accuracy}, url=options.url)
        _stamp(options, folder, final)
    seconds["deploy"] = time.monotonic() - started
    if record not in records:  # _mark_live has added it when it went live
        records.append(record)
    save_registry(folder, _prune(folder, records))
    return RetrainResult(record, options.deploy, [], seconds)


def _fmt(value: float | None) -> str:
    return "未测" if value is None else f"{value:.3f}"


def _collisions(target: Target, new_faqs: list[faq.FaqView], say: Progress) -> list[str]:
    if not new_faqs:
        return []
    try:
        flags = faq.collisions(new_faqs, server_parse(target))
    except requests.RequestException:
        say("提示：Rasa 服务器未运行，无法检查新 FAQ 是否与现有话题冲突")
        return []
    for flag in flags:
        say(f"冲突提示：{flag}")
    return flags


def _mark_live(records: list[ModelRecord], record: ModelRecord) -> None:
    for other in records:
        if other.status == "live":
            other.status = "previous"
    record.status = "live"
    record.deployed_at = datetime.utcnow().isoformat(timespec="seconds")
    if record not in records:
        records.append(record)


def _stamp(options: Options, models_dir: Path, model: Path) -> None:
    """`make run` starts the model now live and does not retrain the same data again."""
    if options.root != ROOT:
        return
    from bot.training import fingerprint

    (models_dir / "fingerprint.json").write_text(json.dumps({"fingerprint": fingerprint(), "model": str(model)}))
    model.touch()  # latest_model() picks the newest file


def rollback(
    actor: str, models_dir: Path | None = None, target: Target | None = None, url: str | None = None
) -> ModelRecord:
    """Put the previous deployed model back live; returns its record."""
    folder = models_dir or settings().models_dir
    with _single_run(folder):
        records = load_registry(folder)
        live = live_record(records)
        previous = [r for r in records if r.status == "previous" and Path(r.file).is_file()]
        if live is None or not previous:
            raise RetrainError("没有可以回滚到的上一个模型（注册表里只有当前模型）")
        restored = previous[-1]
        deploy(target or Target.from_settings(), Path(restored.file), say=print)
        live.status = "rolled-back"
        restored.status = "live"
        restored.deployed_at = datetime.utcnow().isoformat(timespec="seconds")
        records = [r for r in records if r is not restored] + [restored]
        save_registry(folder, records)
        Path(restored.file).touch()
        Path(live.file).unlink(missing_ok=True)
        audit.record(actor, "rollback", Path(restored.file).name, {"from": Path(live.file).name}, url=url)
        return restored


def is_running(models_dir: Path) -> bool:
    """Whether a retrain or rollback holds the lock now (the console shows progress then)."""
    path = models_dir / ".retrain.lock"
    if not path.is_file():
        return False
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
    return False


def project_copy(root: Path) -> Path:
    """What training reads (config, domain, data without generated files, the hold-out file, the KB's jieba
    dictionary) in a fresh folder: tests and `make bench` retrain there, never in the working tree."""
    from bot.nlu.jieba_dict import write_dictionary
    from kb.build import load

    root.mkdir(parents=True)
    for name in ("config.yml", "domain.yml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "data", root / "data", ignore=shutil.ignore_patterns("*_generated.yml", "reviewed.yml"))
    (root / HOLDOUT).parent.mkdir(parents=True)
    shutil.copy(ROOT / HOLDOUT, root / HOLDOUT)
    write_dictionary(load(), root / "var" / "jieba")
    return root
