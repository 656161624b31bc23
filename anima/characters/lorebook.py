"""Lorebook activation: which entries the recent messages trigger (SillyTavern world info, common subset).

Keys are plain words (case-insensitive, whole words by default), regular expressions (`use_regex`, or
`/pattern/flags`), with optional secondary keys under AND ANY / AND ALL / NOT ANY / NOT ALL. Entries
scan the newest `scan_depth` messages; constant entries are always in; activated entries can trigger
others (recursive scanning) up to a step limit. Every regex search runs under a timeout and the
regex searches of a prompt under one time budget, so a catastrophic pattern costs a bounded time and
matches nothing.
"""

from __future__ import annotations

import collections
import functools
import logging
import re
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import regex

from anima.characters.card import Lorebook, LorebookEntry, Position, Role

log = logging.getLogger(__name__)

DEFAULT_SCAN_DEPTH = 2
DEFAULT_MAX_RECURSION_STEPS = 3
DEFAULT_DEPTH = 4
REGEX_TIMEOUT_S = 0.05  # one regex search
SCAN_BUDGET_S = 0.25  # all key searches of one prompt together, plain and regex
MAX_SCAN_DEPTH = 50  # no entry scans further back than this many messages
MAX_RECURSION_CHARS = 50_000  # of activated entries' text scanned per recursion step
GRAM = 4  # plain keys are indexed by one piece of this many characters
MAX_REGEX_REPEATS = 10_000  # counted repeats of a regex key, multiplied (see _repeats)

_SLASHED = regex.compile(r"^/(.+)/([a-z]*)$", regex.DOTALL)
_COUNTED = re.compile(r"\{(\d{0,12})(,?)(\d{0,12})\}")
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
    compiled: dict[str, _Key | None] = field(default_factory=dict, repr=False)  # its keys, once compiled

    @property
    def scan_depth(self) -> int:
        if "scan_depth" in self.decorated.decorators and self.decorated.decorators["scan_depth"].isdigit():
            return int(self.decorated.decorators["scan_depth"])
        for depth in (self.entry.scan_depth, self.book.scan_depth):
            if depth is not None:
                return depth
        return DEFAULT_SCAN_DEPTH


_ROLES: dict[str, Role] = {"system": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class _Key:
    pattern: re.Pattern[str] | regex.Pattern[str]
    needle: str | None = None  # plain keys: a substring every match contains (casefolded if insensitive)
    folded: bool = False


class _Searcher:
    """Key searches for one prompt. Plain keys run on `re` (an escaped literal cannot backtrack) after
    a substring check that rejects most keys cheaply; regex keys run on `regex` with a timeout. All
    searches of a prompt share one budget of time: a timeout, a spent budget or an invalid pattern is
    "no match"."""

    def __init__(self, budget_s: float) -> None:
        self.left = budget_s
        self.timed_out = False
        self._folded: dict[str, str] = {}

    def search(self, key: str, candidate: _Candidate, text: str) -> bool:
        if key in candidate.compiled:
            compiled = candidate.compiled[key]
        else:
            entry = candidate.entry
            compiled = candidate.compiled[key] = compile_key(
                key, bool(entry.case_sensitive), entry.match_whole_words is not False, bool(entry.use_regex)
            )
        if compiled is None or not text:
            return False
        if self.left <= 0:
            self.timed_out = True
            return False
        started = time.monotonic()
        try:
            if compiled.needle is not None:
                haystack = text
                if compiled.folded:
                    haystack = self._folded.get(text) or self._folded.setdefault(text, text.casefold())
                return compiled.needle in haystack and compiled.pattern.search(text) is not None
            pattern = compiled.pattern
            assert isinstance(pattern, regex.Pattern)  # a key without a needle is a regex key
            return pattern.search(text, timeout=min(self.left, REGEX_TIMEOUT_S)) is not None
        except TimeoutError:
            self.timed_out = True
            log.warning("lorebook key %r took too long and was treated as no match", key[:80])
            return False
        finally:
            self.left -= time.monotonic() - started

    def any(self, keys: Sequence[str], candidate: _Candidate, text: str) -> bool:
        return any(self.search(key, candidate, text) for key in keys)

    def all(self, keys: Sequence[str], candidate: _Candidate, text: str) -> bool:
        return all(self.search(key, candidate, text) for key in keys)


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
            if _repeats(slashed.group(1)) > MAX_REGEX_REPEATS:
                return None
            return _Key(regex.compile(slashed.group(1), flags))
        if use_regex:
            if _repeats(key) > MAX_REGEX_REPEATS:
                return None
            return _Key(regex.compile(key, 0 if case_sensitive else regex.IGNORECASE))
    except regex.error:
        return None
    escaped = re.escape(key)
    if whole_words and not any(c.isspace() for c in key) and not _NO_SPACES_SCRIPT.search(key):
        escaped = rf"(?<!\w){escaped}(?!\w)"  # SillyTavern's (?:^|\W)key(?:$|\W)
    if case_sensitive:
        return _Key(re.compile(escaped), key)
    return _Key(re.compile(escaped, re.IGNORECASE), key.casefold(), folded=True)


def _repeats(pattern: str) -> int:
    """The counts of a pattern's `{m}` / `{m,n}` repeats multiplied together: an upper bound on how
    much they make the compiled pattern grow (`(a{1000}){1000}` takes seconds and hundreds of MB
    to compile), found without compiling it."""
    total = 1
    for low, comma, high in _COUNTED.findall(pattern):
        total *= max(int(low or 0), int(high) if comma and high else 0, 1)
        if total > MAX_REGEX_REPEATS:
            break
    return total


def key_problem(key: str, use_regex: bool) -> str | None:
    """Why a regex key can never match (for `anima card validate`), or None."""
    key = key.strip()
    slashed = _SLASHED.match(key)
    if not (slashed or use_regex):
        return None
    pattern = slashed.group(1) if slashed else key
    if _repeats(pattern) > MAX_REGEX_REPEATS:
        return (
            f"regular expression {key[:80]!r} repeats too much to compile "
            f"(its counted repeats multiply to more than {MAX_REGEX_REPEATS:,}); it matches nothing"
        )
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
    """Entries of `books` triggered by `messages` (oldest first, the newest message last).

    Each book's index (built once) turns a message into the few entries whose plain keys can occur
    in it; only those, the constants and the entries with regex keys are checked, all keys of the
    prompt under one time budget."""
    searcher = _Searcher(budget_s)
    indexes = [_index_of(book) for book in books]
    messages = messages[-MAX_SCAN_DEPTH:]
    chat_text: dict[int, str] = {}

    def chat(depth: int) -> str:
        if depth not in chat_text:
            chat_text[depth] = "\n".join(messages[len(messages) - depth :]) if depth > 0 else ""
        return chat_text[depth]

    active: dict[int, Activation] = {}
    for index in indexes:
        # the newest message holding a piece of one of an entry's keys (1 = the newest message)
        nearest: dict[int, int] = {}
        for distance in range(1, min(index.deepest, len(messages)) + 1):
            for number in index.hits(messages[-distance]):
                nearest.setdefault(number, distance)
        to_check = {n for n, distance in nearest.items() if distance <= index.depths[n]}
        to_check.update(index.constants, index.unindexed)
        for number in sorted(to_check):
            candidate = index.candidates[number]
            entry = candidate.entry
            if entry.constant or "activate" in candidate.decorated.decorators:
                active[id(entry)] = _activation(candidate, recursive=False, constant=True)
            elif _triggered(candidate, chat(min(index.depths[number], len(messages))), searcher):
                active[id(entry)] = _activation(candidate, recursive=False, constant=False)

    recursive = any(book.recursive_scanning for book in books)
    steps = min(
        (b.max_recursion_steps for b in books if b.max_recursion_steps is not None),
        default=DEFAULT_MAX_RECURSION_STEPS,
    )
    fresh = list(active.values())
    for _ in range(steps if recursive else 0):
        buffer = "\n".join(a.text for a in fresh if not a.entry.prevent_recursion)[:MAX_RECURSION_CHARS]
        if not buffer:
            break
        fresh = []
        for index in indexes:
            for number in sorted({*index.hits(buffer), *index.unindexed}):
                candidate = index.candidates[number]
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


class _Index:
    """One lorebook ready for activation: its entries with their decorators split, and each entry's
    plain keys filed under one piece of GRAM characters (the piece fewest other keys share;
    casefolded unless the entry is case-sensitive).

    A message is then looked up by its own pieces, never searched once per key: the cost of a message
    is its length plus the entries it can trigger, not the size of the lorebook. Entries with a regex
    key cannot be filed and are checked every time, under the time budget."""

    def __init__(self, book: Lorebook) -> None:
        self.candidates = [
            c
            for c in (_Candidate(e, book, split_decorators(e.content)) for e in book.entries if e.enabled)
            if "dont_activate" not in c.decorated.decorators
        ]
        self.depths = [c.scan_depth for c in self.candidates]
        self.deepest = max(self.depths, default=0)
        self.constants: list[int] = []
        self.unindexed: list[int] = []
        self.folded: dict[str, list[int]] = {}  # case-insensitive keys, by a casefolded piece
        self.exact: dict[str, list[int]] = {}
        self.lengths: set[int] = set()  # piece lengths in use: GRAM, or shorter for shorter keys
        needles: list[tuple[int, list[tuple[str, bool]]]] = []
        for number, candidate in enumerate(self.candidates):
            entry = candidate.entry
            if entry.constant or "activate" in candidate.decorated.decorators:
                self.constants.append(number)
                continue
            found = [_needle(key, entry) for key in (*entry.keys, *candidate.decorated.additional_keys)]
            if any(n is _UNINDEXED for n in found):
                self.unindexed.append(number)  # a regex key: checked every time, under the time budget
            else:
                needles.append((number, [n for n in found if isinstance(n, tuple)]))
        # each key is filed under its rarest piece, so keys that share a start ("tea1", "tea2") spread out
        counts = collections.Counter(
            piece for _, keys in needles for needle, _ in keys for piece in set(_pieces(needle))
        )
        for number, keys in needles:
            for needle, folded in keys:
                piece = min(_pieces(needle), key=counts.__getitem__)
                (self.folded if folded else self.exact).setdefault(piece, []).append(number)
                self.lengths.add(len(piece))

    def hits(self, text: str) -> set[int]:
        """Candidates with a plain key whose filed piece occurs in `text` (the only ones that can match)."""
        found: set[int] = set()
        if not text:
            return found
        for table, haystack in ((self.exact, text), (self.folded, text.casefold() if self.folded else "")):
            if not table:
                continue
            if len(table) * 8 < len(haystack):  # few keys, long text: look for each key's start instead
                grams: Iterable[str] = (g for g in table if g in haystack)
            else:
                grams = {haystack[i : i + n] for n in self.lengths for i in range(len(haystack) - n + 1)}
            for gram in grams:
                found.update(table.get(gram, ()))
        return found


_UNINDEXED = object()


def _needle(key: str, entry: LorebookEntry) -> tuple[str, bool] | object | None:
    """(text every match of a plain key contains, whether casefolded), _UNINDEXED for a regex key or
    one spanning lines, None for an empty key: compile_key's rules, without compiling anything."""
    key = key.strip()
    if not key:
        return None
    if entry.use_regex or _SLASHED.match(key):
        return _UNINDEXED
    if "\n" in key:
        return _UNINDEXED
    return (key, False) if entry.case_sensitive else (key.casefold(), True)


def _pieces(needle: str) -> list[str]:
    """Every GRAM-long piece of a needle (the needle itself when shorter)."""
    if len(needle) <= GRAM:
        return [needle]
    return [needle[i : i + GRAM] for i in range(len(needle) - GRAM + 1)]


_INDEXES: dict[int, _Index] = {}


def prepare(book: Lorebook) -> None:
    """Build the book's index now (the library does, off the event loop, when it loads a card), so
    the first message after a start or a reload does not pay for it."""
    _index_of(book)


def _index_of(book: Lorebook) -> _Index:
    """The book's index, built on first use and dropped with the book (a reloaded card is a new book)."""
    index = _INDEXES.get(id(book))
    if index is None:
        index = _INDEXES[id(book)] = _Index(book)
        weakref.finalize(book, _INDEXES.pop, id(book), None)
    return index


def _triggered(candidate: _Candidate, text: str, searcher: _Searcher) -> bool:
    entry, decorated = candidate.entry, candidate.decorated
    keys = [*entry.keys, *decorated.additional_keys]
    if not text or not searcher.any(keys, candidate, text):
        return False
    if decorated.exclude_keys and searcher.any(decorated.exclude_keys, candidate, text):
        return False
    secondary = entry.secondary_keys or []
    if not entry.selective or not secondary:
        return True
    logic = entry.selective_logic or "and_any"
    if logic == "and_any":
        return searcher.any(secondary, candidate, text)
    if logic == "and_all":
        return searcher.all(secondary, candidate, text)
    if logic == "not_any":
        return not searcher.any(secondary, candidate, text)
    return not searcher.all(secondary, candidate, text)  # not_all


def _activation(candidate: _Candidate, *, recursive: bool, constant: bool) -> Activation:
    entry, decorators = candidate.entry, candidate.decorated.decorators
    position: Position = entry.position or "before_char"
    depth = entry.depth if entry.depth is not None else DEFAULT_DEPTH
    if decorators.get("depth", "").isdigit():
        position, depth = "at_depth", int(decorators["depth"])
    if decorators.get("position") in ("before_desc", "after_desc"):
        position = "before_char" if decorators["position"] == "before_desc" else "after_char"
    role = _ROLES.get(decorators.get("role", ""), entry.role or "system")
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


def trigger_of(activation: Activation, messages: Sequence[str]) -> str:
    """The key that fired `activation` in `messages` (for the studio's dry run; read-only): the first of
    the entry's keys found in the text it scans, "constant" for an entry always in, "" when only another
    entry's text triggered it."""
    if activation.constant:
        return "constant"
    entry = activation.entry
    text = "\n".join(messages[-MAX_SCAN_DEPTH:])
    decorated = split_decorators(entry.content)
    for key in [*entry.keys, *decorated.additional_keys]:
        compiled = compile_key(
            key, bool(entry.case_sensitive), entry.match_whole_words is not False, bool(entry.use_regex)
        )
        if compiled is None:
            continue
        try:
            pattern = compiled.pattern
            found = (
                pattern.search(text, timeout=REGEX_TIMEOUT_S)
                if isinstance(pattern, regex.Pattern)
                else pattern.search(text)
            )
        except TimeoutError:
            continue
        if found is not None:
            return key
    return ""
