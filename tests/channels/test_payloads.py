"""Issue 17.4: Rasa's /intent{...} syntax from public channels: only the payloads the server offers."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain

from bot.channels.payloads import allowed, public_text
from bot.config import ROOT


@pytest.fixture(scope="module")
def rasa_domain() -> Domain:
    return Domain.load(Path(ROOT / "domain.yml"))


@pytest.mark.parametrize(
    "payload",
    ["/affirm", "/deny", "/stop", "/report_manhole", '/inform{"county": "驿城区"}', "/ask_sscard_mail"],
)
def test_button_payloads_of_the_domain_and_topic_buttons_pass(payload: str, rasa_domain: Domain) -> None:
    assert allowed(payload, rasa_domain)
    assert public_text(f"  {payload} ", rasa_domain) == payload


@pytest.mark.parametrize(
    ("typed", "text"),
    [
        (
            '/check_ticket_status{"ticket_id": "JG-20261205-0001"}',
            'check_ticket_status{"ticket_id": "JG-20261205-0001"}',
        ),
        ('/inform{"county": "郑州"}', 'inform{"county": "郑州"}'),  # a value no button offers
        ("/affirm@0.3", "affirm@0.3"),
        ("/greet{bad json} 13800138000", "greet{bad json} 13800138000"),
        (" / /greet", "greet"),
        ("//affirm", "affirm"),
        ("/no_such_intent", "no_such_intent"),
        ("/", ""),
        ("社保卡咋办 /greet", "社保卡咋办 /greet"),
    ],
)
def test_anything_else_starting_with_a_slash_is_text(typed: str, text: str, rasa_domain: Domain) -> None:
    assert public_text(typed, rasa_domain) == text
    assert not public_text(typed, rasa_domain).strip().startswith("/") or text.startswith("社保卡")


def test_without_a_domain_nothing_passes() -> None:
    assert public_text("/affirm", None) == "affirm"


def test_a_staff_faq_button_passes_once_the_model_knows_faq() -> None:
    with_faq = Domain.from_yaml('version: "3.1"\nintents:\n  - faq\n  - greet\n')
    assert public_text("/faq/f0001", with_faq) == "/faq/f0001"
    assert public_text('/faq/f0001{"x": 1}', with_faq) == 'faq/f0001{"x": 1}'
