"""PII in a reply is hidden: emails, phone numbers, payment cards, IBANs, API keys and tokens, IP addresses.

What this user wrote in this conversation may come back to them ("a user sharing their own email on
purpose"); anything else — another user's details from a group's context or from memory, a key in
the prompt — is replaced by a marker such as "[email removed]".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from anima.safety.verdict import OutputContext, Verdict

_EMAIL = re.compile(
    r"(?<![a-z0-9._%+-])[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b", re.IGNORECASE
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\d)"  # +44 20 7946 0958, +1 (555) 123-4567
    r"|(?<![A-Za-z0-9(])\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)"  # (555) 123-4567, 555.123.4567
    r"|(?<!\d)1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)"  # Chinese mobile 13800138000
    r"|(?<![A-Za-z0-9])0\d{2,4}[ -]\d{3,4}[ -]\d{3,4}(?!\d)"  # 020 7946 0958
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.]\d)"
)
_IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4})(?![\w:])",
    re.IGNORECASE,
)
# Each key format behind a cheap test of the text, so ordinary prose costs a few substring searches.
_SECRETS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (
        ("-----BEGIN",),
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
    ),
    (
        ("sk-", "sk_", "rk_"),
        re.compile(
            r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}|\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
        ),
    ),
    (("gh", "github_pat_"), re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{40,}")),
    (("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    (
        ("AKIA", "AIza", "hf_"),
        re.compile(r"\bAKIA[0-9A-Z]{16}\b|\bAIza[0-9A-Za-z_-]{35}|\bhf_[A-Za-z0-9]{30,}"),
    ),
    (
        (
            "key",
            "token",
            "password",
            "passwd",
            "secret",
            "KEY",
            "TOKEN",
            "Password",
            "Token",
            "Key",
            "PASSWORD",
        ),
        re.compile(
            r"(?i:\b(?:api[_ -]?key|secret[_ -]?key|access[_ -]?token|auth[_ -]?token|password|passwd|"
            r"token|secret)\b"
            r"\s*(?:is|[:=])\s*)['\"]?[A-Za-z0-9_\-./+=:]{8,}"
        ),
    ),
    ((":",), re.compile(r"\b\d{8,10}:[A-Za-z0-9_-]{35}\b")),  # Telegram bot token
    (
        (".",),
        re.compile(
            r"\b[MN][A-Za-z\d]{23,27}\.[\w-]{6}\.[\w-]{27,40}"  # Discord bot token
            r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
        ),
    ),
]
_LONG_RUN = re.compile(r"\S{40}")
_DIGIT_RUN = re.compile(r"\d(?:[ ().-]{0,2}\d){6}")
_DOTTED = re.compile(r"\d\.\d")
_SAFE_IPS = {"127.0.0.1", "0.0.0.0", "255.255.255.255"}
# Crisis lines (the ones the crisis answer gives, and common national ones) are never hidden.
HELPLINES = {
    "988",
    "116123",
    "4001619995",
    "01082951332",
    "8008101117",
    "23892222",
    "1925",
    "999",
    "911",
    "112",
}


@dataclass(frozen=True)
class Found:
    kind: str
    start: int
    end: int
    value: str


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def find_pii(text: str) -> list[Found]:
    """Every PII span, in order, without overlaps (secrets and emails win over the numbers inside them)."""
    found: list[Found] = []

    def add(
        kind: str, matches: Iterable[re.Match[str]], valid: Callable[[str], bool] = lambda v: True
    ) -> None:
        for m in matches:
            if valid(m.group()) and not any(f.start < m.end() and m.start() < f.end for f in found):
                found.append(Found(kind, m.start(), m.end(), m.group()))

    long_run = _LONG_RUN.search(text) is not None
    for gates, pattern in _SECRETS:
        if any(gate in text for gate in gates) and (gates not in ((":",), (".",)) or long_run):
            add("secret", pattern.finditer(text))
    if "@" in text:
        add("email", _EMAIL.finditer(text))
    if _DIGIT_RUN.search(text):
        add("card", _CARD.finditer(text), lambda v: luhn_ok(_digits(v)) and len(set(_digits(v))) > 1)
        add("iban", _IBAN.finditer(text), iban_ok)
        add(
            "phone",
            _PHONE.finditer(text),
            lambda v: 7 <= len(_digits(v)) <= 15 and _digits(v) not in HELPLINES,
        )
    if _DOTTED.search(text):
        add("ip address", _IPV4.finditer(text), lambda v: v not in _SAFE_IPS)
    if "::" in text or text.count(":") >= 7:
        add("ip address", _IPV6.finditer(text))
    return sorted(found, key=lambda f: f.start)


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _key(found: Found) -> str:
    if found.kind in ("phone", "card"):
        return _digits(found.value)
    return found.value.lower().replace(" ", "")


def _own(user_texts: Iterable[str]) -> Iterator[str]:
    for text in user_texts:
        for found in find_pii(text):
            yield _key(found)


class PiiRedaction:
    name = "pii"

    async def check_output(self, text: str, context: OutputContext) -> Verdict:
        found = find_pii(text)
        if not found:
            return Verdict("allow", text)
        own = set(_own(context.user_texts))
        hidden = [f for f in found if _key(f) not in own]
        if not hidden:
            return Verdict("allow", text)
        parts: list[str] = []
        at = 0
        for f in hidden:
            parts += [text[at : f.start], f"[{f.kind} removed]"]
            at = f.end
        parts.append(text[at:])
        kinds = ", ".join(dict.fromkeys(f.kind for f in hidden))
        return Verdict("redact", "".join(parts), f"hid {kinds}", self.name, "pii")
