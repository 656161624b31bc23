"""Load every card in characters/, validating each and reporting file:line: field errors; reload on change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from anima.characters.card import CharacterCard, Lorebook
from anima.characters.limits import (
    CARD_YAML,
    LOREBOOK_YAML,
    MAX_CARD_CHARS,
    MAX_CARD_FILE_BYTES,
    MAX_ENTRIES_PER_CARD,
    MAX_KEYS_PER_CARD,
    check_entry_count,
    count_values,
    inside,
    json_where,
    load_json,
)
from anima.characters.lorebook import prepare
from anima.characters.tavern import lorebook_from_tavern
from anima.errors import CharacterNotFound, ConfigError, InputRejected
from anima.yaml_source import (
    YamlDocument,
    display_path,
    parse_yaml,
    read_bounded,
    read_yaml,
    validation_problems,
)

CARD_SUFFIXES = (".yaml", ".yml")
MAX_AVATAR_BYTES = 8 * 1024 * 1024  # Discord takes avatars up to 10 MB
LOREBOOK_SUFFIXES = (".yaml", ".yml", ".json")

log = logging.getLogger(__name__)


def load_card(path: Path) -> CharacterCard:
    """Parse and validate one card; raises ConfigError naming file, line and field."""
    return card_from_document(read_yaml(path, CARD_YAML))


def card_from_document(doc: YamlDocument) -> CharacterCard:
    """Validate a parsed card and load the shared lorebooks it names (inside the card's folder).

    Its bounds come first (limits.py): the YAML's size, depth, values and anchors when it was parsed,
    then every text and the lorebook's entries, before pydantic sees any of it.
    """
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [doc.error([], "a character card must be a mapping of fields (name:, description:, …)")]
        )
    chars = count_values(doc.data, doc.error)
    book = doc.data.get("lorebook")
    if isinstance(book, dict) and isinstance(book.get("entries"), list):
        check_entry_count(
            len(book["entries"]), lambda: doc.error(["lorebook", "entries"], "").removesuffix(": ")
        )
    try:
        card = CharacterCard.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(doc, exc)) from None
    card.id = doc.path.stem
    folder = doc.path.parent
    problems: list[str] = []
    refused = False  # a path out of the folder: an InputRejected, like every other bound
    if card.avatar is not None and inside(folder, card.avatar) is None:
        refused = True
        problems.append(
            doc.error(
                ["avatar"], f"{card.avatar!r} is outside the card's folder; put the image next to the card"
            )
        )
    for i, name in enumerate(card.lorebooks):
        file = inside(folder, name)
        if file is None:
            refused = True
            problems.append(
                doc.error(
                    ["lorebooks", i],
                    f"{name!r} is outside the card's folder (symlinks are followed); "
                    "put the lorebook inside it",
                )
            )
            continue
        try:
            lorebook, lore_chars = _load_lorebook(file)
        except ConfigError as exc:
            problems.append(doc.error(["lorebooks", i], f"cannot use {name!r}: {exc.problems[0]}"))
            problems += exc.problems[1:]
            continue
        chars += lore_chars
        card._linked_lorebooks.append(lorebook)
        card._linked_files.add(file)
    if problems:
        raise (InputRejected if refused else ConfigError)(problems)
    _check_card_totals(card, chars, doc)
    return card


def _check_card_totals(card: CharacterCard, chars: int, doc: YamlDocument) -> None:
    """What a card adds up to with its shared lorebooks: texts, entries and keys."""
    books = card.all_lorebooks
    entries = sum(len(book.entries) for book in books)
    keys = sum(len(e.keys) + len(e.secondary_keys or ()) for book in books for e in book.entries)
    problems = []
    if chars > MAX_CARD_CHARS:
        problems.append(
            f"{chars:,} characters of text with its lorebooks, "
            f"more than the {MAX_CARD_CHARS:,} a card may have"
        )
    if entries > MAX_ENTRIES_PER_CARD:
        problems.append(
            f"{entries:,} lorebook entries with its shared lorebooks, more than the {MAX_ENTRIES_PER_CARD:,} "
            "a card may use; name fewer lorebooks or remove entries"
        )
    if keys > MAX_KEYS_PER_CARD:
        problems.append(f"{keys:,} lorebook keys, more than the {MAX_KEYS_PER_CARD:,} a card may have")
    if problems:
        where = ["lorebooks"] if card.lorebooks else ["lorebook"] if card.lorebook else []
        raise InputRejected([doc.error(where, problem) for problem in problems])


def load_card_bytes(raw: bytes, path: Path) -> CharacterCard:
    """Validate a card's bytes as if saved at `path`, before anything is written there."""
    return card_from_document(parse_yaml(raw, path, CARD_YAML))


def load_lorebook(path: Path) -> Lorebook:
    """A shared lorebook file: our YAML lorebook, or V3 `lorebook_v3` / V2 `character_book` JSON."""
    return _load_lorebook(path)[0]


def _load_lorebook(path: Path) -> tuple[Lorebook, int]:
    shown = display_path(path)
    if path.suffix not in LOREBOOK_SUFFIXES:
        raise ConfigError([f"{shown}: a lorebook file ends in .yaml, .yml or .json"])
    if path.suffix == ".json":
        data = load_json(read_bounded(path, MAX_CARD_FILE_BYTES, "a lorebook file"), shown, "a lorebook file")
        chars = count_values(data, json_where(shown), "a lorebook file")
        return lorebook_from_tavern(data, shown), chars
    doc = read_yaml(path, LOREBOOK_YAML)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.error([], "a lorebook must be a mapping of fields (entries:, …)")])
    chars = count_values(doc.data, doc.error, "a lorebook file")
    if isinstance(doc.data.get("entries"), list):
        check_entry_count(len(doc.data["entries"]), lambda: doc.error(["entries"], "").removesuffix(": "))
    try:
        return Lorebook.model_validate(doc.data), chars
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

    def avatar_image(self, card: CharacterCard) -> bytes | None:
        """The card's avatar image (its `avatar`, a file next to it), None when it has none or the
        file cannot be read (logged); never more than MAX_AVATAR_BYTES."""
        path = inside(self.directory, card.avatar) if card.avatar else None
        if path is None:
            return None
        try:
            return read_bounded(path, MAX_AVATAR_BYTES, "an avatar image")
        except (ConfigError, InputRejected) as exc:
            log.warning("%s: no avatar image: %s", card.id, exc)
            return None

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
        card = load_card(path)
    except ConfigError as exc:
        return exc
    for book in card.all_lorebooks:
        prepare(book)  # a reload runs here in a worker thread: the event loop never builds an index
    return card
