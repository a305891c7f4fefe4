"""The jieba user dictionary, generated from the KB so new terms need no code change."""

from __future__ import annotations

import re
from pathlib import Path

from kb.build import LoadedKB

COUNTIES = ("驿城区", "确山县", "泌阳县", "遂平县", "西平县", "上蔡县", "汝南县", "平舆县", "新蔡县", "正阳县")
EXTRA_TERMS = ("驻马店", "窨井盖", "井盖", "社保卡", "困电梯", "转人工", "工单")
FREQUENCY = 2000  # high enough that jieba keeps each term whole
WORD = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9]{2,20}$")


def terms_of(loaded: LoadedKB) -> list[str]:
    terms: set[str] = set(COUNTIES) | set(EXTRA_TERMS)
    for entry in loaded.entries:
        terms.update(str(k) for k in entry.get("keywords") or [])
        terms.add(str(entry["title"]))
    for office in loaded.offices.values():
        terms.add(office["short"])
    return sorted(t for t in terms if WORD.match(t))


def write_dictionary(loaded: LoadedKB, folder: Path) -> Path:
    """JiebaTokenizer's `dictionary_path` is a folder; it loads every file in it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kb_terms.txt"
    path.write_text("".join(f"{term} {FREQUENCY} n\n" for term in terms_of(loaded)), encoding="utf-8")
    return path
