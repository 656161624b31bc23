"""Load every card in characters/, validating each and reporting file:line: field errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from anima.characters.card import CharacterCard
from anima.errors import CharacterNotFound, ConfigError
from anima.yaml_source import read_yaml, validation_problems

CARD_SUFFIXES = (".yaml", ".yml")


def load_card(path: Path) -> CharacterCard:
    """Parse and validate one card; raises ConfigError naming file, line and field."""
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [doc.error([], "a character card must be a mapping of fields (name:, description:, …)")]
        )
    try:
        card = CharacterCard.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(doc, exc)) from None
    card.id = path.stem
    return card


@dataclass
class CharacterLibrary:
    """All cards of a directory: the valid ones by id, and the problems of the broken ones."""

    directory: Path
    cards: dict[str, CharacterCard] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> CharacterLibrary:
        library = cls(directory=directory)
        if not directory.is_dir():
            raise ConfigError(
                [f"{directory}: characters directory not found (set characters_dir in config.yaml)"]
            )
        for path in sorted(p for p in directory.iterdir() if p.suffix in CARD_SUFFIXES):
            try:
                library.cards[path.stem] = load_card(path)
            except ConfigError as exc:
                library.problems[path.stem] = exc.problems
        return library

    def get(self, name: str) -> CharacterCard:
        """Find a card by id or by display name (case-insensitive)."""
        if name in self.cards:
            return self.cards[name]
        for card in self.cards.values():
            if name.lower() in (card.id.lower(), card.name.lower()):
                return card
        if name in self.problems:
            raise ConfigError(self.problems[name])
        raise CharacterNotFound(name, sorted(self.cards))

    def require_valid(self) -> None:
        """At start-up every card must validate: fail with all problems at once."""
        if self.problems:
            raise ConfigError([p for problems in self.problems.values() for p in problems])
