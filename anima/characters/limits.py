"""The bounds every card and lorebook is held to, each checked before any work is done on the input.

A card comes from people we do not control (a Telegram admin's upload, a file off the internet), so
its size, nesting, number of values, texts and lorebook entries are capped, its paths stay inside
its folder, and its id is a plain file name. Every refusal is an InputRejected whose problems read
`file:line: field: what is wrong; what to do`, like every other card error.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from anima.errors import InputRejected
from anima.yaml_source import YamlBounds, field_path

MAX_CARD_FILE_BYTES = 4 * 1024 * 1024  # a YAML or JSON card or lorebook file (and the JSON in a PNG)
MAX_PNG_BYTES = 20 * 1024 * 1024  # a PNG card: the avatar image and the card chunks
MAX_INFLATED_BYTES = 8 * 1024 * 1024  # all compressed text chunks of one PNG together, inflated
MAX_PNG_CHUNKS = 10_000
MAX_NODES = 150_000  # values (texts, numbers, lists, mappings) in one file
MAX_DEPTH = 48  # lists and mappings nested in each other
MAX_FIELD_CHARS = 200_000  # one text
MAX_CARD_CHARS = 2_000_000  # every text of a card together, the shared lorebooks it names included
MAX_ENTRIES_PER_LOREBOOK = 5_000
MAX_ENTRIES_PER_CARD = 10_000  # its own lorebook and the shared ones together
MAX_KEYS_PER_ENTRY = 100  # keys and secondary keys of one entry, each
MAX_KEY_CHARS = 1_000
MAX_KEYS_PER_CARD = 50_000
MAX_LOREBOOK_FILES = 16
MAX_ID_CHARS = 64

CARD_YAML = YamlBounds(
    max_bytes=MAX_CARD_FILE_BYTES, max_nodes=MAX_NODES, max_depth=MAX_DEPTH, aliases=False, what="a card"
)
LOREBOOK_YAML = YamlBounds(
    max_bytes=MAX_CARD_FILE_BYTES,
    max_nodes=MAX_NODES,
    max_depth=MAX_DEPTH,
    aliases=False,
    what="a lorebook file",
)

_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_ID_CHARS - 1}}}")
# A JSON string, or an unterminated one running to the end: one linear pass, no backtracking.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{},")
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")

Locator = Callable[[Sequence[str | int], str], str]  # (location, message) → "file:line: field: message"


def json_shape(raw: bytes) -> tuple[int, int]:
    """(how deeply lists and objects nest, at most how many values there are) in JSON text, found
    without parsing it (and so without recursion or building anything): strings are cut out, what
    remains is a running count of brackets, and every value but the first of a list or object
    follows a comma."""
    import numpy as np

    structure = _JSON_STRING.sub(b"", raw).translate(None, _NOT_STRUCTURE)
    brackets = structure.translate(None, b",")
    values = len(structure) - len(brackets) + structure.count(b"[") + structure.count(b"{") + 1
    if not brackets:
        return 0, values
    steps = np.frombuffer(brackets.translate(_BRACKET_STEPS), dtype=np.int8)
    return int(np.cumsum(steps, dtype=np.int64).max()), values


def json_depth(raw: bytes) -> int:
    return json_shape(raw)[0]


def load_json(raw: bytes, where: str, what: str = "a card") -> Any:
    """Parse a JSON card or lorebook after checking its size and depth (count_values comes next)."""
    check_json(raw, where, what)
    try:
        return parse_json(raw.decode("utf-8-sig"), where)
    except UnicodeDecodeError as exc:
        raise InputRejected(
            [f"{where}: not {what}: neither a PNG nor UTF-8 JSON (byte {exc.start})"]
        ) from None
    except json.JSONDecodeError as exc:
        raise InputRejected(
            [f"{where}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})"]
        ) from None


def parse_json(text: str, where: str) -> Any:
    """json.loads, refusing what is not JSON's own (NaN, Infinity) and numbers Python will not read
    (more than 4,300 digits) as InputRejected instead of a ValueError."""

    def refuse_constant(name: str) -> Any:
        raise InputRejected([f"{where}: {name} is not a JSON number; write a number or text instead"])

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError:
        raise
    except ValueError:
        raise InputRejected(
            [f"{where}: a number with more than {sys.get_int_max_str_digits():,} digits; write it as text"]
        ) from None


def check_json(raw: bytes, where: str, what: str = "a card") -> None:
    """JSON text within MAX_CARD_FILE_BYTES and MAX_DEPTH, so json.loads cannot recurse too deep."""
    if len(raw) > MAX_CARD_FILE_BYTES:
        raise InputRejected(
            [f"{where}: {len(raw):,} bytes of JSON is more than the {MAX_CARD_FILE_BYTES:,} {what} may have"]
        )
    depth, values = json_shape(raw)
    if depth > MAX_DEPTH:
        raise InputRejected(
            [
                f"{where}: JSON nested {depth:,} levels deep, "
                f"more than the {MAX_DEPTH} {what} may have; flatten it"
            ]
        )
    if values > MAX_NODES:
        raise InputRejected(
            [
                f"{where}: about {values:,} JSON values, "
                f"more than the {MAX_NODES:,} {what} may hold; make it smaller"
            ]
        )


def json_where(where: str) -> Locator:
    """Locations in a JSON file, as `file: field.path: message` (JSON errors carry no line)."""
    return lambda loc, message: f"{where}: {field_path(loc)}: {message}" if loc else f"{where}: {message}"


def count_values(data: Any, where: Locator, what: str = "a card") -> int:
    """Walk parsed data once (no recursion): at most MAX_NODES values, each text at most MAX_FIELD_CHARS
    (asset URIs excepted: data: URLs are long), all texts together at most MAX_CARD_CHARS. Returns the
    characters counted, for the card-wide total."""
    nodes = 0
    chars = 0
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise InputRejected([where(loc, f"more than {MAX_NODES:,} values, more than {what} may hold")])
        if isinstance(value, str):
            chars += len(value)
            if len(value) > MAX_FIELD_CHARS and loc[-1:] != ("uri",):
                raise InputRejected(
                    [
                        where(
                            loc,
                            f"{len(value):,} characters, more than the {MAX_FIELD_CHARS:,} a field may hold",
                        )
                    ]
                )
        elif isinstance(value, dict | list) and nodes + len(stack) + len(value) > MAX_NODES:
            raise InputRejected([where(loc, f"more than {MAX_NODES:,} values, more than {what} may hold")])
        elif isinstance(value, dict):
            for key, child in value.items():
                chars += len(key) if isinstance(key, str) else 0
                stack.append((child, (*loc, str(key))))
        elif isinstance(value, list):
            stack.extend((child, (*loc, i)) for i, child in enumerate(value))
    if chars > MAX_CARD_CHARS:
        raise InputRejected(
            [where((), f"{chars:,} characters of text, more than the {MAX_CARD_CHARS:,} {what} may have")]
        )
    return chars


def check_entry_count(count: int, where: str | Callable[[], str]) -> None:
    """At most MAX_ENTRIES_PER_LOREBOOK entries; `where` may be a function, called only on a refusal
    (finding a YAML line means composing the file again)."""
    if count > MAX_ENTRIES_PER_LOREBOOK:
        where = where() if callable(where) else where
        raise InputRejected(
            [
                f"{where}: {count:,} lorebook entries, more than the {MAX_ENTRIES_PER_LOREBOOK:,} one "
                "lorebook may have; split it or remove entries"
            ]
        )


def inside(root: Path, name: str) -> Path | None:
    """`name` resolved against `root` (symlinks followed), or None when it ends up outside `root`."""
    resolved_root = root.resolve()
    target = (resolved_root / name).resolve()
    return target if target.is_relative_to(resolved_root) else None


def card_id_problem(card_id: str) -> str | None:
    """Why `card_id` cannot name a card file, or None: an id is a plain file name, never a path."""
    if _ID.fullmatch(card_id):
        return None
    return (
        f"id {card_id[:80]!r} is not a plain name: use letters, digits, '-' and '_' "
        f"(at most {MAX_ID_CHARS}, starting with a letter or digit), e.g. 'aiko-tanaka'"
    )
