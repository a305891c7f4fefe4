"""Check the curated entries against their sources and load them into the database.

Every problem is collected and reported with its file and entry, so a staff member can fix all of them in one
go; nothing is written unless the whole knowledge base is sound.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete

from kb.models import Entry, Fact, Office, Source, add_missing_entry_columns
from kb.session import get_engine, new_session

KB_DIR = Path(__file__).resolve().parent
REQUIRED_ENTRY_FIELDS = ("id", "intent", "title", "question", "answer", "facts", "review_by")
LIST_FIELDS = ("steps", "bring", "safety", "figures", "keywords", "related")
TEXT_FIELDS = ("answer", "where", "contact", "how_long", "cost", "eligible")
OPTIONAL_TEXT_FIELDS = ("where", "contact", "how_long", "cost", "eligible")
EMERGENCY_PREFIX = "emergency_"  # entries the emergency action reads by id: no NLU intent, no Rasa rule
NUMBER = re.compile(r"\d+(?:\.\d+)?")


class KBBuildError(Exception):
    """The knowledge base has problems; `problems` names each file, entry and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def normalise(text: str) -> str:
    """NFKC (the briefing mixes half- and full-width punctuation) without any whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@dataclass
class LoadedKB:
    sources: list[dict[str, Any]] = field(default_factory=list)
    offices: dict[str, dict[str, str]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        problems.append(f"{path}: cannot read YAML: {error}")
        return None


def _load_sources(kb_dir: Path, problems: list[str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    index = _read_yaml(kb_dir / "sources" / "sources.yml", problems) or {}
    sources, texts = [], {}
    for item in index.get("sources", []):
        path = kb_dir / "sources" / str(item.get("file", ""))
        if not path.is_file():
            problems.append(f"kb/sources/sources.yml, source '{item.get('id')}': file {path.name} not found")
            continue
        texts[item["id"]] = normalise(path.read_text(encoding="utf-8"))
        sources.append(item)
    return sources, texts


def _load_offices(kb_dir: Path, problems: list[str]) -> dict[str, dict[str, str]]:
    data = _read_yaml(kb_dir / "offices.yml", problems) or {}
    return {office["id"]: office for office in data.get("offices", [])}


def _check_fact(where: str, fact: Any, texts: dict[str, str], problems: list[str]) -> None:
    if not isinstance(fact, dict) or not all(fact.get(key) for key in ("says", "quote", "source")):
        problems.append(f"{where}: each fact needs 'says', 'quote' and 'source'")
        return
    if fact["source"] not in texts:
        problems.append(f"{where}: unknown source '{fact['source']}' (list it in kb/sources/sources.yml)")
    elif normalise(str(fact["quote"])) not in texts[fact["source"]]:
        problems.append(f"{where}: quote not found verbatim in source '{fact['source']}': «{fact['quote']}»")


def join_lines(text: str) -> str:
    """A folded YAML answer gets spaces at its line breaks; Chinese needs none next to a Chinese character."""
    return re.sub(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])", "", text.strip())


def _resident_text(entry: dict[str, Any]) -> str:
    parts = [str(entry.get(name) or "") for name in TEXT_FIELDS]
    for name in ("steps", "bring", "safety", "figures"):
        parts.extend(str(item) for item in entry.get(name) or [])
    return normalise(" ".join(parts))


def _check_numbers(where: str, entry: dict[str, Any], problems: list[str]) -> None:
    """Every number a resident reads must stand in one of the entry's quotes (dates of the briefing aside)."""
    quoted = " ".join(normalise(str(f.get("quote", ""))) for f in entry.get("facts") or [] if isinstance(f, dict))
    backed = set(NUMBER.findall(quoted))
    text = _resident_text(entry).replace("2021年6月30日", "")
    for number in sorted(set(NUMBER.findall(text)) - backed):
        problems.append(f"{where}: the number {number} is not in any of this entry's quotes")


def _check_entry(where: str, entry: dict[str, Any], texts: dict[str, str], problems: list[str]) -> None:
    for name in REQUIRED_ENTRY_FIELDS:
        if not entry.get(name):
            problems.append(f"{where}: missing field '{name}'")
    for name in LIST_FIELDS:
        if entry.get(name) is not None and not isinstance(entry[name], list):
            problems.append(f"{where}: field '{name}' must be a list")
    for name in OPTIONAL_TEXT_FIELDS:
        if entry.get(name) is not None and not isinstance(entry[name], str):
            problems.append(f"{where}: field '{name}' must be text")
    if str(entry.get("intent") or "").startswith(EMERGENCY_PREFIX) and not entry.get("safety"):
        problems.append(f"{where}: an emergency entry needs its 'safety' steps")
    for fact in entry.get("facts") or []:
        _check_fact(where, fact, texts, problems)
    _check_numbers(where, entry, problems)


def _load_entries(kb_dir: Path, offices: dict, texts: dict[str, str], problems: list[str]) -> list[dict]:
    entries: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in sorted((kb_dir / "entries").glob("*.yml")):
        rel = f"kb/entries/{path.name}"
        data = _read_yaml(path, problems) or {}
        default_office = data.get("office")
        if default_office is not None and default_office not in offices:
            problems.append(f"{rel}: unknown office '{default_office}' (known: {', '.join(sorted(offices))})")
        for entry in data.get("entries") or []:
            where = f"{rel}, entry '{entry.get('id', '?')}'"
            office = entry.get("office", default_office)  # a file of mixed topics (emergency.yml) names each one's
            if office is None or (office != default_office and office not in offices):
                problems.append(f"{where}: unknown office '{office}' (known: {', '.join(sorted(offices))})")
            _check_entry(where, entry, texts, problems)
            for key in ("id", "intent"):
                value = entry.get(key)
                if value and f"{key}:{value}" in seen:
                    problems.append(f"{where}: {key} '{value}' repeats (first in {seen[f'{key}:{value}']})")
                seen[f"{key}:{value}"] = where
            entries.append({**entry, "office": office, "source_file": rel})
    ids = {entry.get("id") for entry in entries}
    for entry in entries:
        for related in entry.get("related") or []:
            if related not in ids:
                problems.append(f"{entry['source_file']}, entry '{entry['id']}': related id '{related}' not found")
    return entries


def load(kb_dir: Path = KB_DIR) -> LoadedKB:
    """Read and check everything; raise KBBuildError listing every problem."""
    problems: list[str] = []
    sources, texts = _load_sources(kb_dir, problems)
    offices = _load_offices(kb_dir, problems)
    entries = _load_entries(kb_dir, offices, texts, problems)
    if problems:
        raise KBBuildError(problems)
    return LoadedKB(sources=sources, offices=offices, entries=entries)


def _text_or_none(value: Any) -> str | None:
    return join_lines(str(value)) if value else None


def _entry_row(entry: dict[str, Any]) -> Entry:
    row = Entry(
        id=entry["id"],
        intent=entry["intent"],
        office_id=entry["office"],
        title=entry["title"],
        question=entry["question"],
        answer=join_lines(str(entry["answer"])),
        where=entry.get("where"),
        contact=entry.get("contact"),
        how_long=entry.get("how_long"),
        cost=_text_or_none(entry.get("cost")),
        eligible=_text_or_none(entry.get("eligible")),
        review_by=str(entry["review_by"]),
        origin="curated",
        source_file=entry["source_file"],
        **{name: [str(item) for item in entry.get(name) or []] for name in LIST_FIELDS},
    )
    row.facts = [Fact(says=f["says"], quote=f["quote"], source_id=f["source"]) for f in entry["facts"]]
    return row


def write(loaded: LoadedKB, url: str | None = None) -> None:
    """Replace the curated entries in one transaction; tickets and staff FAQs are left alone.

    A database made before an optional entry column existed gets it first (`add_missing_entry_columns`).
    """
    add_missing_entry_columns(get_engine(url))
    with new_session(url) as session, session.begin():
        for source in loaded.sources:
            fields = {k: str(source[k]) for k in ("id", "title", "publisher", "date", "kind")}
            session.merge(Source(author=source.get("author"), **fields))
        for office in loaded.offices.values():
            session.merge(Office(id=office["id"], name=office["name"], short=office["short"]))
        curated = [row.id for row in session.query(Entry.id).filter(Entry.origin == "curated")]
        session.execute(delete(Fact).where(Fact.entry_id.in_(curated)))
        session.execute(delete(Entry).where(Entry.origin == "curated"))
        session.add_all(_entry_row(entry) for entry in loaded.entries)


def build(url: str | None = None, kb_dir: Path = KB_DIR) -> LoadedKB:
    loaded = load(kb_dir)
    write(loaded, url)
    return loaded
