"""Load every card in characters/, validating each and reporting file:line: field errors; reload on change."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from anima.characters.card import CharacterCard, Lorebook
from anima.characters.tavern import lorebook_from_tavern
from anima.errors import CharacterNotFound, ConfigError
from anima.yaml_source import YamlDocument, display_path, parse_yaml, read_yaml, validation_problems

CARD_SUFFIXES = (".yaml", ".yml")
LOREBOOK_SUFFIXES = (".yaml", ".yml", ".json")

log = logging.getLogger(__name__)


def load_card(path: Path) -> CharacterCard:
    """Parse and validate one card; raises ConfigError naming file, line and field."""
    return card_from_document(read_yaml(path))


def card_from_document(doc: YamlDocument) -> CharacterCard:
    """Validate a parsed card and load the shared lorebooks it names (relative to the card's folder)."""
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [doc.error([], "a character card must be a mapping of fields (name:, description:, …)")]
        )
    try:
        card = CharacterCard.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(doc, exc)) from None
    card.id = doc.path.stem
    problems: list[str] = []
    for i, name in enumerate(card.lorebooks):
        file = doc.path.parent / name
        try:
            card._linked_lorebooks.append(load_lorebook(file))
            card._linked_files.add(file.resolve())
        except ConfigError as exc:
            problems.append(doc.error(["lorebooks", i], f"cannot use {name!r}: {exc.problems[0]}"))
            problems += exc.problems[1:]
    if problems:
        raise ConfigError(problems)
    return card


def load_card_bytes(raw: bytes, path: Path) -> CharacterCard:
    """Validate a card's bytes as if saved at `path`, before anything is written there."""
    return card_from_document(parse_yaml(raw, path))


def load_lorebook(path: Path) -> Lorebook:
    """A shared lorebook file: our YAML lorebook, or V3 `lorebook_v3` / V2 `character_book` JSON."""
    if path.suffix not in LOREBOOK_SUFFIXES:
        raise ConfigError([f"{display_path(path)}: a lorebook file ends in .yaml, .yml or .json"])
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise ConfigError([f"{display_path(path)}: file not found"]) from None
        except (OSError, ValueError) as exc:
            raise ConfigError([f"{display_path(path)}: not a JSON lorebook: {exc}"]) from None
        return lorebook_from_tavern(data, display_path(path))
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.error([], "a lorebook must be a mapping of fields (entries:, …)")])
    try:
        return Lorebook.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(doc, exc)) from None


def card_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in CARD_SUFFIXES and not p.name.startswith("."))


@dataclass
class CharacterLibrary:
    """All cards of a directory: the valid ones by id, and the problems of the broken ones.

    Shared by the pipeline: `reload` changes it in place, so the next message uses the new card.
    """

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
        for path in card_files(directory):
            library._apply(path, _load(path))
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

    async def reload(self, changed: Iterable[Path]) -> None:
        """Reload the cards that `changed` files touch: a card file itself, or a lorebook a card uses.

        A card that no longer validates keeps its previous version running; its problems are logged.
        """
        directory = self.directory.resolve()
        paths: set[Path] = set()
        for path in (p.resolve() for p in changed):
            if path.parent == directory and path.suffix in CARD_SUFFIXES and not path.name.startswith("."):
                paths.add(path)
            else:
                paths |= {
                    directory / f"{card.id}{card_suffix}"
                    for card in self.cards.values()
                    if path in card._linked_files
                    for card_suffix in CARD_SUFFIXES
                    if (directory / f"{card.id}{card_suffix}").exists()
                }
        loaded = await asyncio.to_thread(
            lambda: [(p, _load(p) if p.exists() else None) for p in sorted(paths)]
        )
        for path, outcome in loaded:
            self._apply(path, outcome)

    def _apply(self, path: Path, outcome: CharacterCard | ConfigError | None) -> None:
        card_id = path.stem
        twins = [p for p in (path.with_suffix(s) for s in CARD_SUFFIXES) if p != path and p.exists()]
        if outcome is not None and twins:
            outcome = ConfigError(
                [
                    f"{display_path(path)}: duplicate id {card_id!r}: {display_path(twins[0])} "
                    "has the same file name; rename one of them"
                ]
            )
        if outcome is None:
            if self.cards.pop(card_id, None) is not None:
                log.info("card %s was removed: %s", card_id, display_path(path))
            self.problems.pop(card_id, None)
        elif isinstance(outcome, ConfigError):
            self.problems[card_id] = outcome.problems
            keeping = " (the previous version keeps running)" if card_id in self.cards else ""
            log.error("card %s does not validate%s:\n%s", card_id, keeping, "\n".join(outcome.problems))
        else:
            if card_id in self.cards:
                log.info("card %s reloaded from %s", card_id, display_path(path))
            self.cards[card_id] = outcome
            self.problems.pop(card_id, None)


def _load(path: Path) -> CharacterCard | ConfigError:
    try:
        return load_card(path)
    except ConfigError as exc:
        return exc
