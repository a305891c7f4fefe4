"""Rasa's ``/intent{...}`` syntax from public channels: only the button payloads the server itself offers.

Rasa reads a message that starts with "/" (after ``str.strip``) as an intent with entities and a confidence, and
logs the whole message when its arguments do not parse ("Failed to parse arguments in line …"). A resident could
so pick any intent, set entities such as a ticket id, or write into the server log. The channels let through only

- a button payload of a response in the domain, exactly (``/affirm``, ``/inform{"county": "驿城区"}``), and
- a bare ``/intent`` of an intent in the domain, without entities or confidence: the topic buttons the actions build
  (``/ask_sscard_mail``, ``/faq/f0001``);

anything else starting with "/" loses its leading slashes (and the spaces between them) and is read as text.
"""

from __future__ import annotations

import re
from typing import Any

SLASHES = re.compile(r"^[\s/]+")
BARE_INTENT = re.compile(r"/([A-Za-z0-9_]+)(?:/([A-Za-z0-9_]+))?")


def _payloads_of(responses: dict[str, Any]) -> frozenset[str]:
    payloads: set[str] = set()
    for variations in responses.values():
        for variation in variations or []:
            for button in (variation or {}).get("buttons") or []:
                payload = str((button or {}).get("payload") or "").strip()
                if payload.startswith("/"):  # as Rasa renders it: {{ and }} are escaped braces in domain.yml
                    payloads.update({payload, payload.replace("{{", "{").replace("}}", "}")})
    return frozenset(payloads)


_CACHE: dict[int, tuple[Any, frozenset[str], frozenset[str]]] = {}


def _known(domain: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(button payloads, intent names) of a Rasa `Domain`, computed once per loaded domain (a model swap brings a
    new one; hashing a `Domain` would fingerprint it on every call)."""
    cached = _CACHE.get(id(domain))
    if cached is None or cached[0] is not domain:
        payloads = _payloads_of(dict(getattr(domain, "responses", {}) or {}))
        cached = (domain, payloads, frozenset(getattr(domain, "intents", []) or []))
        if len(_CACHE) >= 4:
            _CACHE.clear()
        _CACHE[id(domain)] = cached
    return cached[1], cached[2]


def allowed(text: str, domain: Any) -> bool:
    """Whether `text` (stripped, starting with "/") is a payload the server offers."""
    if domain is None:
        return False
    payloads, intents = _known(domain)
    if text in payloads:
        return True
    bare = BARE_INTENT.fullmatch(text)
    return bool(bare) and bare is not None and bare.group(1) in intents


def public_text(text: str, domain: Any) -> str:
    """What a public channel hands to Rasa for a resident's `text`: a known payload as is, else no leading "/"."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return text
    if allowed(stripped, domain):
        return stripped
    return SLASHES.sub("", stripped)
