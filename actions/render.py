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


def topic_buttons(answers: list[TopicAnswer]) -> list[dict[str, str]]:
    """Quick replies that ask the topic's question (the payload triggers its intent directly)."""
    return [{"title": a.title, "payload": f"/{a.intent}"} for a in answers]
