"""Lorebook activation: which entries the recent messages trigger (SillyTavern world info, common subset).

Keys are plain words (case-insensitive, whole words by default), regular expressions (`use_regex`, or
`/pattern/flags`), with optional secondary keys under AND ANY / AND ALL / NOT ANY / NOT ALL. Entries
scan the newest `scan_depth` messages; constant entries are always in; activated entries can trigger
others (recursive scanning) up to a step limit. Every regex search runs under a timeout and the
regex searches of a prompt under one time budget, so a catastrophic pattern costs a bounded time and
matches nothing.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import regex

from anima.characters.card import Lorebook, LorebookEntry, Position, Role

log = logging.getLogger(__name__)

DEFAULT_SCAN_DEPTH = 2
DEFAULT_MAX_RECURSION_STEPS = 3
DEFAULT_DEPTH = 4
REGEX_TIMEOUT_S = 0.05  # one regex search
SCAN_BUDGET_S = 0.25  # all regex searches of one prompt together

_SLASHED = regex.compile(r"^/(.+)/([a-z]*)$", regex.DOTALL)
_SLASH_FLAGS = {"i": regex.IGNORECASE, "s": regex.DOTALL, "m": regex.MULTILINE}
_NO_SPACES_SCRIPT = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}]")
_DECORATOR = regex.compile(r"^@@(@?)([a-z_]+)(?:[ \t]+(.*))?$")
_REPEATABLE = frozenset({"additional_keys", "exclude_keys"})


@dataclass(frozen=True)
class Decorated:
    """An entry's content split into its V3 decorators (`@@depth 2` lines at the top) and its text."""

    text: str
    decorators: dict[str, str] = field(default_factory=dict)
    additional_keys: tuple[str, ...] = ()
    exclude_keys: tuple[str, ...] = ()


def split_decorators(content: str) -> Decorated:
    """Leading `@@name value` lines; `@@@name` (a fallback) and unknown names are dropped silently."""
    if not content.startswith("@@"):
        return Decorated(content)
    lines = content.split("\n")
    found: dict[str, str] = {}
    repeated: dict[str, list[str]] = {name: [] for name in _REPEATABLE}
    index = 0
    while index < len(lines) and (match := _DECORATOR.match(lines[index].strip())):
        index += 1
        fallback, name, value = match.group(1), match.group(2), (match.group(3) or "").strip()
        if fallback:
            continue
        if name in _REPEATABLE:
            repeated[name] += [part.strip() for part in value.split(",") if part.strip()]
        else:
            found.setdefault(name, value)
    return Decorated(
        "\n".join(lines[index:]),
        found,
        tuple(repeated["additional_keys"]),
        tuple(repeated["exclude_keys"]),
    )


@dataclass(frozen=True)
class Activation:
    """One triggered entry, ready to place in the prompt."""

    entry: LorebookEntry
    text: str  # the content without decorators (macros not yet expanded)
    position: Position
    depth: int
    role: Role
    constant: bool
    recursive: bool  # triggered by another entry's content rather than by the chat
    priority: int

    @property
    def order(self) -> int:
        return self.entry.insertion_order


@dataclass
class _Candidate:
    entry: LorebookEntry
    book: Lorebook
    decorated: Decorated

    @property
    def scan_depth(self) -> int:
        if "scan_depth" in self.decorated.decorators and self.decorated.decorators["scan_depth"].isdigit():
            return int(self.decorated.decorators["scan_depth"])
        for depth in (self.entry.scan_depth, self.book.scan_depth):
            if depth is not None:
                return depth
        return DEFAULT_SCAN_DEPTH


@dataclass(frozen=True)
class _Key:
    pattern: re.Pattern[str] | regex.Pattern[str]
    needle: str | None = None  # plain keys: a substring every match contains (casefolded if insensitive)
    folded: bool = False


class _Searcher:
    """Key searches for one prompt. Plain keys run on `re` (an escaped literal cannot backtrack) after
    a substring check that rejects most keys cheaply; regex keys run on `regex` with a timeout, sharing
    one budget of search time. A timeout, a spent budget or an invalid pattern is "no match"."""

    def __init__(self, budget_s: float) -> None:
        self.left = budget_s
        self.timed_out = False
        self._folded: dict[str, str] = {}

    def search(self, key: str, entry: LorebookEntry, text: str) -> bool:
        compiled = compile_key(
            key, bool(entry.case_sensitive), entry.match_whole_words is not False, bool(entry.use_regex)
        )
        if compiled is None or not text:
            return False
        if compiled.needle is not None:
            haystack = text
            if compiled.folded:
                haystack = self._folded.get(text) or self._folded.setdefault(text, text.casefold())
            return compiled.needle in haystack and compiled.pattern.search(text) is not None
        if self.left <= 0:
            self.timed_out = True
            return False
        started = time.monotonic()
        try:
            return compiled.pattern.search(text, timeout=min(self.left, REGEX_TIMEOUT_S)) is not None
        except TimeoutError:
            self.timed_out = True
            log.warning("lorebook key %r took too long and was treated as no match", key[:80])
            return False
        finally:
            self.left -= time.monotonic() - started

    def any(self, keys: Sequence[str], entry: LorebookEntry, text: str) -> bool:
        return any(self.search(key, entry, text) for key in keys)

    def all(self, keys: Sequence[str], entry: LorebookEntry, text: str) -> bool:
        return all(self.search(key, entry, text) for key in keys)


@functools.lru_cache(maxsize=8192)
def compile_key(key: str, case_sensitive: bool, whole_words: bool, use_regex: bool) -> _Key | None:
    """The compiled pattern for one key, or None when it cannot match (empty, or an invalid regex)."""
    key = key.strip()
    if not key:
        return None
    try:
        slashed = _SLASHED.match(key)
        if slashed:
            flags = 0
            for letter in slashed.group(2):
                flags |= _SLASH_FLAGS.get(letter, 0)
            return _Key(regex.compile(slashed.group(1), flags))
        if use_regex:
            return _Key(regex.compile(key, 0 if case_sensitive else regex.IGNORECASE))
    except regex.error:
        return None
    escaped = re.escape(key)
    if whole_words and not any(c.isspace() for c in key) and not _NO_SPACES_SCRIPT.search(key):
        escaped = rf"(?<!\w){escaped}(?!\w)"  # SillyTavern's (?:^|\W)key(?:$|\W)
    if case_sensitive:
        return _Key(re.compile(escaped), key)
    return _Key(re.compile(escaped, re.IGNORECASE), key.casefold(), folded=True)


def key_problem(key: str, use_regex: bool) -> str | None:
    """Why a regex key can never match (for `anima card validate`), or None."""
    key = key.strip()
    slashed = _SLASHED.match(key)
    if not (slashed or use_regex):
        return None
    pattern = slashed.group(1) if slashed else key
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        return f"invalid regular expression {key!r}: {exc}"
    probe = "a" * 2000 + "!" + "x" * 2000 + " 0" * 500
    try:
        compiled.search(probe, timeout=REGEX_TIMEOUT_S)
    except TimeoutError:
        return f"regular expression {key!r} takes too long on ordinary text (catastrophic backtracking)"
    return None


def activate(
    books: Sequence[Lorebook], messages: Sequence[str], *, budget_s: float = SCAN_BUDGET_S
) -> list[Activation]:
    """Entries of `books` triggered by `messages` (oldest first, the newest message last)."""
    searcher = _Searcher(budget_s)
    candidates = [
        _Candidate(entry, book, split_decorators(entry.content))
        for book in books
        for entry in book.entries
        if entry.enabled
    ]
    candidates = [c for c in candidates if "dont_activate" not in c.decorated.decorators]
    chat_text: dict[int, str] = {}

    def chat(depth: int) -> str:
        if depth not in chat_text:
            chat_text[depth] = "\n".join(messages[len(messages) - depth :]) if depth > 0 else ""
        return chat_text[depth]

    active: dict[int, Activation] = {}
    for candidate in candidates:
        entry = candidate.entry
        if entry.constant or "activate" in candidate.decorated.decorators:
            active[id(entry)] = _activation(candidate, recursive=False, constant=True)
        elif _triggered(candidate, chat(candidate.scan_depth), searcher):
            active[id(entry)] = _activation(candidate, recursive=False, constant=False)

    recursive = any(book.recursive_scanning for book in books)
    steps = min(
        (b.max_recursion_steps for b in books if b.max_recursion_steps is not None),
        default=DEFAULT_MAX_RECURSION_STEPS,
    )
    fresh = list(active.values())
    for _ in range(steps if recursive else 0):
        buffer = "\n".join(a.text for a in fresh if not a.entry.prevent_recursion)
        if not buffer:
            break
        fresh = []
        for candidate in candidates:
            entry = candidate.entry
            if id(entry) in active or entry.exclude_recursion:
                continue
            if _triggered(candidate, buffer, searcher):
                active[id(entry)] = activation = _activation(candidate, recursive=True, constant=False)
                fresh.append(activation)
        if not fresh:
            break
    if searcher.timed_out:
        log.warning("lorebook scan hit its time limit; some keys were treated as no match")
    return list(active.values())


def _triggered(candidate: _Candidate, text: str, searcher: _Searcher) -> bool:
    entry, decorated = candidate.entry, candidate.decorated
    keys = [*entry.keys, *decorated.additional_keys]
    if not text or not searcher.any(keys, entry, text):
        return False
    if decorated.exclude_keys and searcher.any(decorated.exclude_keys, entry, text):
        return False
    secondary = entry.secondary_keys or []
    if not entry.selective or not secondary:
        return True
    logic = entry.selective_logic or "and_any"
    if logic == "and_any":
        return searcher.any(secondary, entry, text)
    if logic == "and_all":
        return searcher.all(secondary, entry, text)
    if logic == "not_any":
        return not searcher.any(secondary, entry, text)
    return not searcher.all(secondary, entry, text)  # not_all


def _activation(candidate: _Candidate, *, recursive: bool, constant: bool) -> Activation:
    entry, decorators = candidate.entry, candidate.decorated.decorators
    position: Position = entry.position or "before_char"
    depth = entry.depth if entry.depth is not None else DEFAULT_DEPTH
    if decorators.get("depth", "").isdigit():
        position, depth = "at_depth", int(decorators["depth"])
    if decorators.get("position") in ("before_desc", "after_desc"):
        position = "before_char" if decorators["position"] == "before_desc" else "after_char"
    role = entry.role or "system"
    if decorators.get("role") in ("system", "user", "assistant"):
        role = decorators["role"]  # type: ignore[assignment]
    return Activation(
        entry=entry,
        text=candidate.decorated.text,
        position=position,
        depth=depth,
        role=role,
        constant=constant,
        recursive=recursive,
        priority=entry.priority if entry.priority is not None else 0,
    )


def budget_order(activations: Sequence[Activation]) -> list[Activation]:
    """Who gets the token budget first: constants, then direct matches before recursive ones, then
    higher priority, then higher insertion_order (SillyTavern keeps higher orders first)."""
    return sorted(activations, key=lambda a: (not a.constant, a.recursive, -a.priority, -a.order))


def token_budget(books: Sequence[Lorebook], prompt_budget: int) -> int:
    """The first token_budget set (the card's own lorebook comes first); else a quarter of the prompt."""
    for book in books:
        if book.token_budget is not None:
            return book.token_budget
    return prompt_budget // 4
