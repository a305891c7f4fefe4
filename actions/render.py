"""Turn a KB entry into one reply, using the wording pieces (`utter_part_*`) from domain.yml."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk.types import DomainDict

from kb.query import TopicAnswer

# The resident asks for a figure: show the entry's dated figures.
ASKS_FOR_FIGURE = re.compile(
    r"多少|几个|几家|几户|几所|几场|几名|几人|几件|几座|几套|数量|数据|数字|比例|几成|百分|多久|几分钟|多长时间"
)


def template(domain: DomainDict, name: str, **values: Any) -> str:
    """The first text variant of a response in domain.yml, filled with `values`."""
    return str(domain["responses"][name][0]["text"]).format(**values)


def numbered(items: list[str]) -> str:
    return "\n".join(f"{n}. {item}" for n, item in enumerate(items, start=1))


def office_label(answer: TopicAnswer) -> str:
    """Full name once, with the short name the rest of the reply uses."""
    if answer.office_short and answer.office_short not in answer.office_name:
        return f"{answer.office_name}（{answer.office_short}）"
    return answer.office_name


def answer_text(answer: TopicAnswer, domain: DomainDict, question: str = "") -> str:
    parts = []
    if answer.safety:  # urgent topics: what to do now comes before anything else
        parts.append(template(domain, "utter_part_safety", items=numbered(answer.safety)))
    parts.append(template(domain, "utter_part_office", office=office_label(answer)))
    parts.append(answer.answer)
    if answer.steps:
        parts.append(template(domain, "utter_part_steps", items=numbered(answer.steps)))
    if answer.bring:
        parts.append(template(domain, "utter_part_bring", items="、".join(answer.bring)))
    for response, value in (
        ("utter_part_where", answer.where),
        ("utter_part_contact", answer.contact),
        ("utter_part_how_long", answer.how_long),
    ):
        if value:
            parts.append(template(domain, response, text=value))
    if answer.figures and ASKS_FOR_FIGURE.search(question):
        parts.append(template(domain, "utter_part_figures", items="\n".join(answer.figures)))
    return "\n".join(parts)


def overview_text(answer: TopicAnswer, domain: DomainDict, question: str = "") -> str:
    """The first answer to a topic: safety if urgent, the office and the core of the procedure."""
    parts = [template(domain, "utter_part_safety", items=numbered(answer.safety))] if answer.safety else []
    parts += [template(domain, "utter_part_office", office=office_label(answer)), answer.answer]
    if answer.steps:
        parts.append(template(domain, "utter_part_steps", items=numbered(answer.steps)))
    if answer.figures and ASKS_FOR_FIGURE.search(question):
        parts.append(template(domain, "utter_part_figures", items="\n".join(answer.figures)))
    return "\n".join(parts)


def compact_text(answer: TopicAnswer, domain: DomainDict) -> str:
    """One of several topics asked in one message: the office and the core answer."""
    return "\n".join([template(domain, "utter_part_office", office=office_label(answer)), answer.answer])


# The KB field that answers each aspect, and the wording piece that shows it.
ASPECT_FIELDS: dict[str, tuple[str, str]] = {
    "bring": ("bring", "utter_part_bring"),
    "where": ("where", "utter_part_where"),
    "steps": ("steps", "utter_part_steps"),
    "how_long": ("how_long", "utter_part_how_long"),
    "cost": ("cost", "utter_part_cost"),
    "eligible": ("eligible", "utter_part_eligible"),
    "contact": ("contact", "utter_part_contact"),
    "figures": ("figures", "utter_part_figures"),
}


# What the KB does not say, said for the topic (names spelled out so tests/actions/test_guards.py sees them used).
UNKNOWN_RESPONSES = {
    "bring": "utter_unknown_bring",
    "where": "utter_unknown_where",
    "steps": "utter_unknown_steps",
    "how_long": "utter_unknown_how_long",
    "cost": "utter_unknown_cost",
    "eligible": "utter_unknown_eligible",
    "contact": "utter_unknown_contact",
    "figures": "utter_unknown_figures",
}


def aspect_known(answer: TopicAnswer, aspect: str) -> bool:
    if aspect == "office":
        return True
    field_name, _ = ASPECT_FIELDS.get(aspect, ("", ""))
    return bool(field_name and getattr(answer, field_name, None))


def aspect_text(answer: TopicAnswer, aspect: str, domain: DomainDict) -> str:
    """What the KB says about one aspect of the topic, or that it says nothing (for this topic, with the office)."""
    if aspect == "office":
        return "\n".join([template(domain, "utter_part_office", office=office_label(answer)), answer.answer])
    if not aspect_known(answer, aspect):
        return template(domain, UNKNOWN_RESPONSES[aspect], title=answer.title)
    field_name, response = ASPECT_FIELDS[aspect]
    value = getattr(answer, field_name)
    if aspect == "steps":
        return template(domain, response, items=numbered(value))
    if aspect == "bring":
        return template(domain, response, items="、".join(value))
    if aspect == "figures":
        return template(domain, response, items="\n".join(value))
    return template(domain, response, text=value)


def followup_buttons(answer: TopicAnswer, domain: DomainDict, asked: list[str]) -> list[dict[str, str]]:
    """Quick replies for the aspects this topic's KB entry can answer and that were not just asked."""
    buttons = domain["responses"]["utter_followup_buttons"][0]["buttons"]
    offered = []
    for button, aspect in zip(buttons, ("bring", "where", "how_long", "cost", "eligible", "more"), strict=True):
        if aspect not in asked and (aspect == "more" or aspect_known(answer, aspect)):
            offered.append({"title": str(button["title"]), "payload": str(button["payload"])})
    return [*offered[:3], offered[-1]] if len(offered) > 4 else offered


def topic_buttons(answers: list[TopicAnswer]) -> list[dict[str, str]]:
    """Quick replies that ask the topic's question (the payload triggers its intent directly)."""
    return [{"title": a.title, "payload": f"/{a.intent}"} for a in answers]
