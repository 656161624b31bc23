"""`anima card validate`: every problem of a card file as file:line: field: message, errors and warnings."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from anima.characters.card import CharacterCard
from anima.characters.importer import MAX_CARD_BYTES, read_card
from anima.characters.library import CARD_SUFFIXES, card_files, load_card
from anima.characters.limits import CARD_YAML
from anima.characters.lorebook import key_problem
from anima.characters.macros import COMPUTED_MACROS, TEMPLATE_MACROS, unknown_macros
from anima.errors import ConfigError
from anima.yaml_source import YamlDocument, display_path, field_path, read_bounded, read_yaml

CARD_FILE_SUFFIXES = (*CARD_SUFFIXES, ".json", ".png")
KEY_CHECK_BUDGET_S = 0.5  # for probing every regex key of a card: a card of slow keys is not a slow check
_PROBLEM = re.compile(
    r"^(?P<file>.+?):(?:(?P<line>\d+):)? (?:(?P<field>[\w.\[\]]+): )?(?P<message>.*)$", re.DOTALL
)


@dataclass(frozen=True)
class Finding:
    severity: Literal["error", "warning"]
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{self.severity}: {where}: {self.field}: {self.message}"
            if self.field
            else (f"{self.severity}: {where}: {self.message}")
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_problem(text: str, severity: Literal["error", "warning"] = "error") -> Finding:
    """A `file:line: field: message` string (as ConfigError carries them) as a Finding."""
    match = _PROBLEM.match(text)
    if match is None:
        return Finding(severity, "", None, "", text)
    line = match.group("line")
    return Finding(
        severity,
        match.group("file"),
        int(line) if line else None,
        match.group("field") or "",
        match.group("message"),
    )


def card_paths(paths: list[Path]) -> list[Path]:
    """Files as given; a folder means every card file in it."""
    out: list[Path] = []
    for path in paths:
        out += card_files(path) if path.is_dir() else [path]
    return out


def check_card_file(path: Path) -> list[Finding]:
    """Everything wrong with one card file (YAML, JSON or PNG), without writing anything."""
    if path.suffix.lower() in CARD_SUFFIXES:
        try:
            card = load_card(path)
        except ConfigError as exc:
            return [parse_problem(p) for p in exc.problems]
        return _card_findings(card, path, read_yaml(path, CARD_YAML))
    if path.suffix.lower() not in CARD_FILE_SUFFIXES:
        return [
            Finding("error", display_path(path), None, "", "not a card file (.yaml, .yml, .json or .png)")
        ]
    try:
        data = read_bounded(path, MAX_CARD_BYTES, "a card")
        imported = read_card(data, path.name, path.parent)
    except FileNotFoundError:
        return [Finding("error", display_path(path), None, "", "file not found")]
    except ConfigError as exc:
        return [parse_problem(p) for p in exc.problems]
    warnings = [parse_problem(w, "warning") for w in imported.warnings]
    return warnings + _card_findings(imported.card, path, None)


def _card_findings(card: CharacterCard, path: Path, doc: YamlDocument | None) -> list[Finding]:
    shown = display_path(path)
    findings: list[Finding] = []

    def at(loc: list[str | int], needle: str = "") -> int | None:
        return _line_of(doc, loc, needle) if doc is not None else None

    for loc, text in _texts(card):
        known = COMPUTED_MACROS | TEMPLATE_MACROS if loc == ["system_prompt"] else COMPUTED_MACROS
        for macro in dict.fromkeys(unknown_macros(text, known)):
            findings.append(
                Finding(
                    "warning",
                    shown,
                    at(loc, macro),
                    field_path(loc),
                    f"unknown macro {macro} is left as written",
                )
            )
    if card.lorebook is not None:
        deadline = time.monotonic() + KEY_CHECK_BUDGET_S
        unchecked = 0
        for i, entry in enumerate(card.lorebook.entries):
            for j, key in enumerate([*entry.keys, *(entry.secondary_keys or [])]):
                if time.monotonic() > deadline:
                    unchecked += 1
                    continue
                problem = key_problem(key, bool(entry.use_regex))
                if problem:
                    group, index = (
                        ("keys", j) if j < len(entry.keys) else ("secondary_keys", j - len(entry.keys))
                    )
                    where: list[str | int] = ["lorebook", "entries", i, group, index]
                    findings.append(Finding("error", shown, at(where), field_path(where), problem))
        if unchecked:
            findings.append(
                Finding(
                    "warning",
                    shown,
                    at(["lorebook"]),
                    "lorebook",
                    f"{unchecked:,} keys were not checked for slow regular expressions (the check's "
                    f"{KEY_CHECK_BUDGET_S:g} s were spent); at run time a slow key still matches nothing",
                )
            )
    if card.avatar and not (path.parent / card.avatar).exists():
        findings.append(
            Finding("warning", shown, at(["avatar"]), "avatar", f"{card.avatar} is not next to the card")
        )
    return findings


def _texts(card: CharacterCard) -> Iterator[tuple[list[str | int], str]]:
    """Every text of the card that goes through macro expansion, with its location."""
    for name in (
        "description",
        "personality",
        "scenario",
        "backstory",
        "system_prompt",
        "post_history_instructions",
        "mes_example",
        "appearance",
        "no_vision",
    ):
        value = getattr(card, name)
        if value:
            yield [name], value
    for name in ("rules", "greeting", "group_greetings", "apology", "busy"):
        for i, value in enumerate(getattr(card, name) or []):
            yield [name, i], value
    for i, exchange in enumerate(card.example_dialogue):
        yield ["example_dialogue", i, "user"], exchange.user
        yield ["example_dialogue", i, "char"], exchange.char
    if card.lorebook is not None:
        for i, entry in enumerate(card.lorebook.entries):
            yield ["lorebook", "entries", i, "content"], entry.content


def _line_of(doc: YamlDocument, loc: list[str | int], needle: str) -> int:
    """The line of the field, or of the first line at or after it that holds `needle` (block texts)."""
    line = doc.line_of(loc)
    if needle:
        for number, text in enumerate(doc.text.splitlines()[line - 1 :], start=line):
            if needle in text:
                return number
    return line
