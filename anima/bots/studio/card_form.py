"""The common fields of a card as a form: read from the card's YAML, and written back into it.

Only what the form changed is written; the rest of the file — comments, key order, fields the form
does not show, a lorebook entry's position and order — stays as the creator wrote it (yaml_edit.py).
A lorebook too large to show in a form is left to the YAML view."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from multidict import MultiDictProxy
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from anima.bots.studio import yaml_edit
from anima.characters.card import CardSafety, CardVoice
from anima.characters.limits import CARD_YAML
from anima.yaml_source import display_path, parse_yaml

MAX_ROWS = 200  # greetings, rules, examples or lorebook entries in one form: more are edited as YAML
TEXTS = ("name", "description", "personality", "scenario", "backstory")
ENGINES: tuple[str, ...] = get_args(CardVoice.model_fields["engine"].annotation)
RATINGS: tuple[str, ...] = get_args(CardSafety.model_fields["rating"].annotation)
DEFAULT_VOICE = CardVoice()


class TooMany(ValueError):
    """More rows of one kind than a form takes."""


@dataclass
class LoreRow:
    keys: list[str]
    content: str
    index: int | None = None  # its place in the card's lorebook; None for a new entry


@dataclass
class CardForm:
    """What the form shows and sends back."""

    texts: dict[str, str] = field(default_factory=dict)
    greetings: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    examples: list[tuple[str, str]] = field(default_factory=list)
    entries: list[LoreRow] | None = field(default_factory=list)  # None: the lorebook is left to the YAML view
    voice_engine: str = DEFAULT_VOICE.engine
    voice_name: str = ""
    voice_speed: str = str(DEFAULT_VOICE.speed)  # as typed: a wrong one is the validator's to name
    rating: str = "general"
    avatar: str = ""

    @classmethod
    def of_card(cls, text: str, path: Path) -> CardForm:
        """The form of a card's YAML (read by the bounded loader: a ConfigError when it cannot be)."""
        data = parse_yaml(text.encode("utf-8"), path, CARD_YAML).data
        data = data if isinstance(data, dict) else {}
        texts = {k: _text(data.get(k)) for k in TEXTS}
        greeting = data.get("greeting")
        lorebook = _mapping(data.get("lorebook"))
        raw_entries = _list(lorebook.get("entries"))
        entries = None
        if len(raw_entries) <= MAX_ROWS:
            entries = [
                LoreRow([_text(k) for k in _list(e.get("keys"))], _text(e.get("content")), i)
                for i, e in enumerate(raw_entries)
                if isinstance(e, dict)
            ]
        voice, safety = _mapping(data.get("voice")), _mapping(data.get("safety"))
        return cls(
            texts=texts,
            greetings=[greeting] if isinstance(greeting, str) else [_text(g) for g in _list(greeting)],
            rules=[_text(r) for r in _list(data.get("rules"))],
            examples=[
                (_text(e.get("user")), _text(e.get("char")))
                for e in _list(data.get("example_dialogue"))
                if isinstance(e, dict)
            ],
            entries=entries,
            voice_engine=_text(voice.get("engine")) or DEFAULT_VOICE.engine,
            voice_name=_text(voice.get("voice")),
            voice_speed=_text(voice.get("speed")) or str(DEFAULT_VOICE.speed),
            rating=_text(safety.get("rating")) or "general",
            avatar=_text(data.get("avatar")),
        )

    @classmethod
    def of_post(cls, form: MultiDictProxy[Any]) -> CardForm:
        """What the browser sent (a textarea's line ends are CRLF); empty rows are dropped."""

        def texts(name: str) -> list[str]:
            values = [_typed(v) for v in form.getall(name, [])]
            if len(values) > MAX_ROWS:
                raise TooMany(f"more than {MAX_ROWS} {name} rows: edit them in the YAML view")
            return values

        users, chars = texts("example_user"), texts("example_char")
        indexes, keys, contents = texts("lore_index"), texts("lore_keys"), texts("lore_content")
        entries = None
        if "lore_shown" in form:
            entries = [
                LoreRow([k.strip() for k in key.split(",") if k.strip()], content, _index(index))
                for index, key, content in zip(indexes, keys, contents, strict=False)
                if key.strip() or content.strip()
            ]
        return cls(
            texts={k: _typed(form.get(k, "")) for k in TEXTS},
            greetings=[g for g in texts("greeting") if g.strip()],
            rules=[r for r in texts("rule") if r.strip()],
            examples=[(u, c) for u, c in zip(users, chars, strict=False) if u.strip() or c.strip()],
            entries=entries,
            voice_engine=_typed(form.get("voice_engine", "")) or DEFAULT_VOICE.engine,
            voice_name=_typed(form.get("voice_name", "")).strip(),
            voice_speed=_typed(form.get("voice_speed", "")).strip() or str(DEFAULT_VOICE.speed),
            rating=_typed(form.get("rating", "")) or "general",
        )

    def apply(self, text: str, path: Path, avatar: str = "") -> str:
        """The card's YAML with what this form changed written into it."""
        before = CardForm.of_card(text, path)  # bounded first: ruamel then parses a checked text
        card = yaml_edit.load(text, display_path(path))
        for i, key in enumerate(TEXTS):
            if self.texts.get(key, "") != before.texts.get(key, ""):
                yaml_edit.put(card, key, self.texts.get(key, ""), after=TEXTS[:i][::-1])
        if self.greetings != before.greetings:
            yaml_edit.put(card, "greeting", list(self.greetings), after=("rules", "backstory", "description"))
        if self.rules != before.rules:
            yaml_edit.put(card, "rules", list(self.rules), after=("backstory", "scenario", "description"))
        if self.examples != before.examples:
            exchanges = [
                CommentedMap(user=yaml_edit.text_value(u), char=yaml_edit.text_value(c))
                for u, c in self.examples
            ]
            yaml_edit.put(card, "example_dialogue", exchanges, after=("greeting",))
        if self.entries is not None and before.entries is not None and self._lore_changed(before.entries):
            self._apply_lorebook(card)
        voice = (self.voice_engine, self.voice_name, self.voice_speed)
        if voice != (before.voice_engine, before.voice_name, before.voice_speed):
            self._apply_voice(card)
        if self.rating != before.rating:
            safety = card.get("safety")
            if not isinstance(safety, CommentedMap):
                safety = CommentedMap()
                yaml_edit.put(card, "safety", safety)
            yaml_edit.put(safety, "rating", self.rating)
        if avatar:
            yaml_edit.put(card, "avatar", avatar, after=("tags", "description"))
        return yaml_edit.dump(card)

    def _lore_changed(self, before: list[LoreRow]) -> bool:
        return [(e.keys, e.content, e.index) for e in self.entries or []] != [
            (e.keys, e.content, e.index) for e in before
        ]

    def _apply_lorebook(self, card: CommentedMap) -> None:
        lorebook = card.get("lorebook")
        if not isinstance(lorebook, CommentedMap):
            lorebook = CommentedMap()
            yaml_edit.put(card, "lorebook", lorebook, after=("example_dialogue", "greeting"))
        old = lorebook.get("entries")
        old = old if isinstance(old, CommentedSeq) else CommentedSeq()
        kept = []
        for entry in self.entries or []:
            was = old[entry.index] if entry.index is not None and entry.index < len(old) else None
            mapping = was if isinstance(was, CommentedMap) else CommentedMap()
            yaml_edit.put(mapping, "keys", list(entry.keys))
            yaml_edit.put(mapping, "content", entry.content, after=("keys",))
            kept.append(mapping)
        yaml_edit.put(lorebook, "entries", kept)

    def _apply_voice(self, card: CommentedMap) -> None:
        voice = card.get("voice")
        if not isinstance(voice, CommentedMap):
            voice = CommentedMap()
            yaml_edit.put(card, "voice", voice)
        yaml_edit.put(voice, "engine", self.voice_engine)
        if self.voice_name:
            yaml_edit.put(voice, "voice", self.voice_name, after=("engine",))
        elif "voice" in voice:
            del voice["voice"]
        yaml_edit.put(voice, "speed", _number(self.voice_speed), after=("voice", "engine"))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _typed(value: object) -> str:
    """A field as the creator typed it: a browser's CRLF line ends as LF (a file upload is no text)."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _index(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 7 else None


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value  # written as typed: validation names the field and what it expects
