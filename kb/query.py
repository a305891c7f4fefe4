"""Read-side of the KB: answers by intent, keyword search, tickets and follow-ups.

Everything is read at answer time, so an edited entry is live without retraining.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import jieba
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.text import to_simplified
from kb.models import Entry, Faq, Followup, Office, Ticket, TicketCheckCode
from kb.session import new_session
from kb.ticket_numbers import check_code_hash, code_matches, new_check_code, new_ticket_number

CITY_TZ = ZoneInfo("Asia/Shanghai")
TICKET_PREFIXES = {"manhole": "JG"}


@dataclass(frozen=True)
class TopicAnswer:
    """What the assistant may say about one topic, with the office that handles it."""

    id: str
    intent: str
    title: str
    question: str
    office_id: str
    office_name: str
    office_short: str
    answer: str
    steps: list[str] = field(default_factory=list)
    bring: list[str] = field(default_factory=list)
    where: str | None = None
    contact: str | None = None
    how_long: str | None = None
    cost: str | None = None
    eligible: str | None = None
    safety: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)


def _to_answer(entry: Entry, office: Office) -> TopicAnswer:
    return TopicAnswer(
        id=entry.id,
        intent=entry.intent,
        title=entry.title,
        question=entry.question,
        office_id=office.id,
        office_name=office.name,
        office_short=office.short,
        answer=entry.answer,
        steps=list(entry.steps or []),
        bring=list(entry.bring or []),
        where=entry.where,
        contact=entry.contact,
        how_long=entry.how_long,
        cost=entry.cost,
        eligible=entry.eligible,
        safety=list(entry.safety or []),
        figures=list(entry.figures or []),
        related=list(entry.related or []),
        keywords=list(entry.keywords or []),
    )


def _select_answers():  # type: ignore[no-untyped-def]
    disabled_faqs = select(Faq.entry_id).where(Faq.enabled.is_(False))  # a disabled staff FAQ is not answered
    return select(Entry, Office).join(Office, Entry.office_id == Office.id).where(Entry.id.not_in(disabled_faqs))


def answer_for_intent(intent: str, url: str | None = None) -> TopicAnswer | None:
    with new_session(url) as session:
        row = session.execute(_select_answers().where(Entry.intent == intent)).first()
        return _to_answer(*row) if row else None


def answers_by_id(ids: list[str], url: str | None = None) -> list[TopicAnswer]:
    """Entries in the order asked for; unknown ids are skipped."""
    with new_session(url) as session:
        return _answers_by_id(session, ids)


def _answers_by_id(session: Session, ids: list[str]) -> list[TopicAnswer]:
    rows = session.execute(_select_answers().where(Entry.id.in_(ids))).all() if ids else []
    found = {entry.id: _to_answer(entry, office) for entry, office in rows}
    return [found[i] for i in ids if i in found]


def answer_with_related(intent: str, url: str | None = None) -> tuple[TopicAnswer | None, list[TopicAnswer]]:
    """The answer for `intent` and its related topics, read in one session (one connection per action call)."""
    with new_session(url) as session:
        row = session.execute(_select_answers().where(Entry.intent == intent)).first()
        answer = _to_answer(*row) if row else None
        return answer, _answers_by_id(session, answer.related) if answer else []


def all_answers(url: str | None = None) -> list[TopicAnswer]:
    with new_session(url) as session:
        return [_to_answer(e, o) for e, o in session.execute(_select_answers().order_by(Entry.id)).all()]


@lru_cache(maxsize=4096)
@lru_cache(maxsize=4096)  # an entry's words are cut once, not for every question (ranked() scores every entry)
def _tokens(text: str) -> frozenset[str]:
    return frozenset(t for t in jieba.lcut(to_simplified(text)) if len(t.strip()) >= 2)


def _score(text: str, tokens: frozenset[str], answer: TopicAnswer) -> float:
    simplified = to_simplified(text)
    score = sum(len(k) for k in [*answer.keywords, answer.title] if k and k in simplified)
    vocabulary = _tokens(" ".join([answer.title, answer.question, " ".join(answer.keywords)]))
    return score + len(tokens & vocabulary)


def ranked(
    text: str, url: str | None = None, answers: list[TopicAnswer] | None = None
) -> list[tuple[float, TopicAnswer]]:
    """(score, topic) for every KB topic a free-text question shares words with (jieba tokens and keywords), best
    first; a keyword found whole scores its length."""
    tokens = _tokens(text)
    candidates = answers if answers is not None else all_answers(url)
    # Emergency entries are reached by bot.nlu.dialogue_acts, never offered as a topic to pick.
    topics = [answer for answer in candidates if not answer.intent.startswith("emergency_")]
    scored = [(_score(text, tokens, answer), answer) for answer in topics]
    scored = [pair for pair in scored if pair[0] >= 2]
    scored.sort(key=lambda pair: -pair[0])
    return scored


def grounded_in(text: str, answer: TopicAnswer) -> bool:
    """Every word (two characters or more) of `text` is in what the KB says about the topic, and there is one:
    要带身份证不 leaves 身份证, which the card's entry lists; 身份证过期了咋弄 leaves 过期 too, which it does not."""
    words = _tokens(text)
    fields = [answer.title, answer.question, answer.answer, answer.where, answer.contact, answer.how_long]
    lists = [*answer.steps, *answer.bring, *answer.figures, *answer.keywords, answer.cost, answer.eligible]
    said = to_simplified(" ".join(text for text in [*fields, *lists] if text))
    return bool(words) and all(word in said for word in words)


def search(text: str, limit: int = 3, url: str | None = None) -> list[TopicAnswer]:
    """KB topics closest to a free-text question, best first."""
    return [answer for _, answer in ranked(text, url)[:limit]]


def office_topics(office_id: str, url: str | None = None) -> list[TopicAnswer]:
    """Every topic one office answers for (还有别的吗), in KB order."""
    return [answer for answer in all_answers(url) if answer.office_id == office_id]


def create_ticket(
    kind: str,
    office_id: str,
    sender_id: str,
    location: str,
    description: str,
    county: str | None,
    url: str | None = None,
) -> Ticket:
    """Save a report under a new random number (``kb.ticket_numbers``) with a check code, kept as a hash; the
    returned ticket carries the code in clear (``check_code``) to tell the resident once. Retries on a collision."""
    prefix = TICKET_PREFIXES[kind]
    for _attempt in range(5):
        now = datetime.now(CITY_TZ)
        number, code = new_ticket_number(prefix, now), new_check_code()
        with new_session(url) as session:
            ticket = Ticket(
                number=number,
                kind=kind,
                office_id=office_id,
                county=county,
                location=location,
                description=description,
                sender_id=sender_id,
                created_at=now.replace(tzinfo=None),
                updated_at=now.replace(tzinfo=None),
            )
            try:
                session.add(ticket)
                session.flush()  # the ticket row first: the code's row refers to it
                session.add(TicketCheckCode(number=number, code_hash=check_code_hash(number, code)))
                session.commit()
            except IntegrityError:  # that number was taken a moment ago: draw another
                session.rollback()
                continue
            ticket.check_code = code
            return ticket
    raise RuntimeError("could not allocate a ticket number after 5 attempts")


def check_code_matches(number: str, code: str, url: str | None = None) -> bool:
    """Whether ``code`` is the check code given when ticket ``number`` was filed (never true for old tickets)."""
    number = number.strip().upper()
    with new_session(url) as session:
        stored = session.get(TicketCheckCode, number)
        return stored is not None and code_matches(str(stored.code_hash), number, code.strip())


def get_ticket(number: str, url: str | None = None) -> Ticket | None:
    with new_session(url) as session:
        return session.get(Ticket, number.strip().upper())


def latest_ticket_of(sender_id: str, url: str | None = None) -> Ticket | None:
    with new_session(url) as session:
        query = select(Ticket).where(Ticket.sender_id == sender_id).order_by(Ticket.created_at.desc()).limit(1)
        return session.scalars(query).first()


def tickets_of(sender_id: str, limit: int = 5, url: str | None = None) -> list[Ticket]:
    """The tickets one conversation filed, newest first (我前两天报的井盖修了没有)."""
    with new_session(url) as session:
        query = select(Ticket).where(Ticket.sender_id == sender_id)
        return list(session.scalars(query.order_by(Ticket.created_at.desc(), Ticket.number.desc()).limit(limit)))


def office_of(office_id: str, url: str | None = None) -> Office | None:
    with new_session(url) as session:
        return session.get(Office, office_id)


def record_followup(sender_id: str, reason: str, url: str | None = None) -> None:
    with new_session(url) as session, session.begin():
        session.add(Followup(sender_id=sender_id, reason=reason))
