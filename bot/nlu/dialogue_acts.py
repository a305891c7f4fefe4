"""A pipeline step after the intent classifiers: what kind of turn a message is, in a conversation.

DIET classifies a message as if it were the first one. This step, a small rule set (measured with `make holdout`),
recognises the turns that DIET cannot know:
- a life-safety situation anywhere, however it is typed -> intent `report_emergency`, entity `emergency`;
- a typed button text (不对，重新填) -> the button's intent;
- a follow-up that names only an aspect of the current topic (要带啥, 在哪办, 那我爸呢, 还有别的吗) ->
  intent `ask_followup`, entities `aspect`; the answer action takes the topic from the slot `topic`;
- a question that names a topic and an aspect (社保卡在哪办) keeps DIET's intent and gains `aspect` entities;
  "那停车位呢" keeps DIET's intent with aspect `same` (the previous turn's aspect).
DIET's own result stays in `intent_ranking` and in `dialogue_act` (written to the conversation log).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.config import ROOT
from bot.nlu.aspects import PERSON, SCOPE, SCOPE_WORDS, aspects_in, button_intent, leftover, what_about
from bot.nlu.emergency import emergency_in
from bot.text import squeeze

EXTRACTOR = "DialogueActs"
DIALOGUE_ACT = "dialogue_act"
NOT_TOPICS = {"ask_human", "nlu_fallback", "out_of_scope"}
# Services with their own action: 我的工单到哪了 has an aspect word (哪) but is a ticket question, 在学校门口那边 in
# the report form is a location. DIET's choice stands when it is this sure.
SERVICE_INTENTS = {
    "check_ticket_status",
    "cancel_ticket",
    "append_ticket",
    "ask_human",
    "inform",
    "report_manhole",
    "bot_challenge",  # 你是人工智能不: 能…不 is no eligibility question here
    "greet",
}
SERVICE_CONFIDENCE = 0.5


def is_topic(intent: str) -> bool:
    return intent not in NOT_TOPICS and (intent.startswith(("ask_", "report_")) or intent.startswith("faq"))


def topic_keywords(entries_dir: Path) -> frozenset[str]:
    """KB keywords and titles that name a subject (not a person, not an aspect like 电话 or 免费)."""
    words: set[str] = set()
    for path in sorted(entries_dir.glob("*.yml")):
        for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("entries", []):
            words.update(str(word) for word in [*(entry.get("keywords") or []), entry.get("title", "")] if word)
    # A county is a place a question is narrowed to (俺们汝南哩村子也来演不), not a topic of its own.
    return frozenset(
        w
        for w in words
        if len(w) >= 2 and not PERSON.search(w) and not aspects_in(w) and not w.isdigit() and not SCOPE.match(w)
    )


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class DialogueActs(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"entries_dir": "kb/entries"}

    def __init__(self, keywords: frozenset[str]) -> None:
        self.keywords = keywords

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> DialogueActs:
        return cls(topic_keywords(ROOT / config["entries_dir"]))

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str) and text.strip() and not text.startswith("/"):
                self._understand(message, text)
        return messages

    def names_topic(self, text: str) -> bool:
        return any(word in text for word in self.keywords)

    def _understand(self, message: Message, text: str) -> None:
        squeezed = squeeze(text)
        diet = str((message.get(INTENT) or {}).get(INTENT_NAME_KEY) or "")
        kind = emergency_in(text)
        if kind:
            return _set_intent(message, "report_emergency", "emergency", diet, [("emergency", kind)])
        button = button_intent(squeezed)
        if button:
            return _set_intent(message, button, "button_text", diet, [])
        subject = what_about(squeezed)
        if subject is not None and SCOPE.match(subject) and not aspects_in(squeezed):
            # 俺们西平县呢: the same about a county (DIET may read the county as a form answer, `inform`)
            return _set_intent(message, "ask_followup", "followup_scope", diet, [("aspect", "same")])
        confidence = float((message.get(INTENT) or {}).get("confidence") or 0)
        if (diet in SERVICE_INTENTS or diet.startswith("faq")) and confidence >= SERVICE_CONFIDENCE:
            return None  # a staff FAQ (想献血去哪) is its own topic, whatever aspect words it has
        aspects = aspects_in(squeezed)
        names_topic = self.names_topic(squeezed)
        subject = what_about(squeezed)
        if not aspects and SCOPE.match(subject or squeezed):  # 俺们西平县呢: a county is no new topic
            return _set_intent(message, "ask_followup", "followup_scope", diet, [("aspect", "same")])
        if not aspects and not names_topic and PERSON.search(squeezed) and (subject or squeezed.startswith("那")):
            return _set_intent(message, "ask_followup", "followup_person", diet, [("aspect", "eligible")])
        if subject is not None and not aspects:
            if names_topic and is_topic(diet):
                return _add_entities(message, "what_about", diet, [("aspect", "same")])
            return None
        if squeezed.startswith("那") and "呢" in squeezed and not names_topic:
            return None  # 那饭店呢，查了几家: a new subject, whatever DIET makes of it
        if squeezed.startswith("那") and not names_topic and len(leftover(SCOPE_WORDS.sub("", squeezed))) >= 2:
            return None  # 那村里网线啥时候通: a new subject the KB does not know
        if aspects and not names_topic and self._only_aspects(squeezed, diet, diet_choice(message)):
            return _set_intent(message, "ask_followup", "followup", diet, [("aspect", a) for a in aspects])
        out_of_scope = diet == "out_of_scope" and not squeezed.startswith("那")  # 那养老保险呢: a new subject
        if aspects and (is_topic(diet) or diet == "nlu_fallback" or out_of_scope):
            # the fallback may answer the current topic, out of scope only if its words are the topic's own
            return _add_entities(message, "topic_aspect", diet, [("aspect", a) for a in aspects])
        return None

    @staticmethod
    def _only_aspects(text: str, diet: str, diet_first: str) -> bool:
        """The message asks an aspect and names no KB topic: 要带啥, 俺弟弟智力残疾 能住进去不, 俺是个体户 也能去不.

        Words left over name a subject of their own when DIET reads them as out of scope (低保咋申请, 电费余额咋查),
        or when there are more than two of them and DIET is sure of a topic (社保的业务能不能在银行办): a new
        question. Otherwise they are said about the current topic (哪个部门负责, though DIET guesses a topic).
        """
        rest = leftover(text)
        if len(rest) <= 1:
            return True
        if diet_first == "out_of_scope":
            return False  # 低保咋申请
        return len(rest) <= 2 or not is_topic(diet)


def diet_choice(message: Message) -> str:
    """DIET's own first choice, also when the FallbackClassifier replaced it with nlu_fallback."""
    for ranked in message.get(INTENT_RANKING_KEY) or []:
        name = str(ranked.get(INTENT_NAME_KEY) or "")
        if name and name != "nlu_fallback":
            return name
    return str((message.get(INTENT) or {}).get(INTENT_NAME_KEY) or "")


def _entities(message: Message, values: list[tuple[str, str]]) -> list[dict[str, Any]]:
    text = str(message.get(TEXT))
    added = [
        {"entity": name, "value": value, "start": 0, "end": len(text), "confidence_entity": 1.0, "extractor": EXTRACTOR}
        for name, value in values
    ]
    return [*(message.get(ENTITIES) or []), *added]


def _set_intent(message: Message, intent: str, rule: str, diet: str, values: list[tuple[str, str]]) -> None:
    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != intent]
    message.set(INTENT, {INTENT_NAME_KEY: intent, "confidence": 1.0}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{INTENT_NAME_KEY: intent, "confidence": 1.0}, *ranking], add_to_output=True)
    _add_entities(message, rule, diet, values)


def _add_entities(message: Message, rule: str, diet: str, values: list[tuple[str, str]]) -> None:
    if values:
        message.set(ENTITIES, _entities(message, values), add_to_output=True)
    message.set(DIALOGUE_ACT, {"rule": rule, "diet_intent": diet}, add_to_output=True)
