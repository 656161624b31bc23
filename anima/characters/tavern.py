"""Character Card V1/V2/V3 ⇄ our card, field by field, so that V2 → YAML → V2 gives back the same JSON.

Rules that keep the round trip lossless:
- optional V2/V3 fields absent from the source stay None and are left out again on export;
- `extensions` is kept verbatim, except SillyTavern's lorebook-entry keys we use (depth, role,
  selectiveLogic, match_whole_words, scan_depth, exclude_recursion, prevent_recursion, and position 4,
  "at depth"), which become entry fields and go back where they came from;
- fields we do not know are kept in `unknown_fields` and written back;
- what only Anima has (rules, backstory, llm, voice, …) is exported under `extensions.anima`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from anima.characters.card import (
    DEFAULT_SYSTEM_PROMPT,
    MAX_TEXT,
    CharacterCard,
    ExampleExchange,
    Lorebook,
    tavern_talkativeness,
)
from anima.characters.limits import check_entry_count
from anima.characters.lorebook import split_decorators
from anima.errors import ConfigError
from anima.yaml_source import describe_type, field_path

Spec = Literal["v1", "v2", "v3"]
SPECS: dict[str, tuple[Spec, float]] = {"chara_card_v2": ("v2", 2.0), "chara_card_v3": ("v3", 3.0)}
ANIMA_ONLY = frozenset(
    {
        "backstory",
        "rules",
        "apology",
        "busy",
        "language",
        "lorebooks",
        "llm",
        "voice",
        "safety",
        "growth",
        "proactive",
        "appearance",
        "no_vision",
    }
)
_ROLES = {0: "system", 1: "user", 2: "assistant"}
_LOGIC = {0: "and_any", 1: "not_all", 2: "not_any", 3: "and_all"}  # SillyTavern's world_info_logic
_AT_DEPTH = 4  # SillyTavern's world_info_position.atDepth


@dataclass
class Converted:
    card: CharacterCard
    spec: Spec
    warnings: list[str] = field(default_factory=list)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Fields:
    """Reads typed fields out of one JSON object; whatever is not read is an unknown field."""

    def __init__(self, obj: dict[str, Any], path: str, where: str, problems: list[str]) -> None:
        self.rest = dict(obj)
        self.path = path
        self.where = where
        self.problems = problems

    def _at(self, key: str) -> str:
        return f"{self.where}: {self.path}{key}"

    def text(self, key: str) -> str:
        """A field the spec requires: missing is "", a wrong type is a problem."""
        value = self.rest.pop(key, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            self.problems.append(f"{self._at(key)}: expected text, got {describe_type(value)}")
            return ""
        return value

    def texts(self, key: str) -> list[str]:
        """A list of texts the spec requires: missing is [], a wrong type is a problem."""
        value = self.rest.get(key)
        if value is None:
            self.rest.pop(key, None)
            return []
        if not isinstance(value, list):
            self.problems.append(f"{self._at(key)}: expected a list of texts, got {describe_type(value)}")
            return []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.problems.append(f"{self._at(key)}[{i}]: expected text, got {describe_type(item)}")
                return []
        return self.rest.pop(key)

    def optional(self, key: str, valid: Callable[[Any], bool]) -> Any:
        """An optional field: absent is None; a value we cannot use stays verbatim as an unknown field."""
        if key in self.rest and valid(self.rest[key]):
            return self.rest.pop(key)
        return None

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.rest.pop(key, None)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.append(f"{self._at(key)}: expected an object, got {describe_type(value)}")
            return {}
        return dict(value)


def too_long(obj: Any, path: str = "") -> list[str]:
    """Every text over MAX_TEXT characters, by JSON path (asset URIs may be long data: URLs)."""
    found: list[str] = []
    if isinstance(obj, str) and len(obj) > MAX_TEXT and not path.endswith(".uri"):
        found.append(f"{path}: {len(obj):,} characters, more than the {MAX_TEXT:,} a field may hold")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            found += too_long(value, f"{path}.{key}" if path else str(key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found += too_long(value, f"{path}[{i}]")
    return found


def card_from_tavern(obj: Any, where: str) -> Converted:
    """A V1, V2 or V3 card (the decoded JSON) as our card; ConfigError lists every problem."""
    if not isinstance(obj, dict):
        raise ConfigError(
            [f"{where}: not a character card: expected a JSON object, got {describe_type(obj)}"]
        )
    obj = copy.deepcopy(obj)  # extensions are taken apart below; the caller's object stays as it was
    warnings: list[str] = []
    spec_name = obj.get("spec")
    if spec_name == "lorebook_v3":
        raise ConfigError(
            [
                f"{where}: this is a lorebook, not a character card; name it under `lorebooks:` "
                "in a card instead"
            ]
        )
    if spec_name is None:
        if "name" not in obj:
            raise ConfigError([f"{where}: not a character card: it has neither `spec` nor `name`"])
        spec: Spec = "v1"
        data, path = obj, ""
        warnings.append(f"{where}: a V1 card (no `spec`): imported; export writes it as V2")
    elif spec_name in SPECS:
        spec, newest = SPECS[spec_name]
        data, path = obj.get("data"), "data."
        if not isinstance(data, dict):
            raise ConfigError(
                [f"{where}: data: expected an object with the card's fields, got {describe_type(data)}"]
            )
        version = _version(obj.get("spec_version"))
        if version is not None and version > newest:
            warnings.append(
                f"{where}: spec_version {obj['spec_version']} is newer than {newest}; imported "
                "what this version of the spec defines"
            )
    else:
        raise ConfigError([f"{where}: spec: expected chara_card_v2 or chara_card_v3, got {spec_name!r}"])

    problems = [f"{where}: {p}" for p in too_long(data, path.rstrip("."))]
    if problems:
        raise ConfigError(problems)
    fields = _card_fields(data, path, where, problems, warnings)
    if problems:
        raise ConfigError(problems)
    if spec == "v3":
        _drop_v3_required_defaults(fields)
    try:
        card = CharacterCard.model_validate(fields)
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc, where, path)) from None
    return Converted(card, spec, warnings)


def _drop_v3_required_defaults(fields: dict[str, Any]) -> None:
    """V3 requires `group_only_greetings` and `use_regex`, and a V3 export writes them back, so their
    empty values need not clutter the YAML (and YAML → V3 → YAML gives back the same card)."""
    if fields.get("group_greetings") == []:
        del fields["group_greetings"]
    for entry in fields.get("lorebook", {}).get("entries", []):
        if entry.get("use_regex") is False:
            del entry["use_regex"]


def _version(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _card_fields(
    data: dict[str, Any], path: str, where: str, problems: list[str], warnings: list[str]
) -> dict[str, Any]:
    f = _Fields(data, path, where, problems)
    out: dict[str, Any] = {
        "name": f.text("name"),
        "description": f.text("description"),
        "personality": f.text("personality"),
        "scenario": f.text("scenario"),
    }
    greeting = [f.text("first_mes"), *f.texts("alternate_greetings")]
    out["greeting"] = greeting
    examples = f.text("mes_example")
    exchanges = parse_examples(examples)
    if exchanges:
        out["example_dialogue"] = exchanges
    elif examples:
        out["mes_example"] = examples
    for key in ("creator_notes", "post_history_instructions", "creator", "character_version"):
        out[key] = f.text(key)
    system_prompt = f.text("system_prompt")
    if system_prompt:
        out["system_prompt"] = system_prompt
    out["tags"] = f.texts("tags")
    book = f.rest.pop("character_book", None)
    if book is not None:
        out["lorebook"] = lorebook_fields(book, f"{path}character_book", where, problems)
    extensions = f.mapping("extensions")
    anima = extensions.get("anima")
    if isinstance(anima, dict):
        for key in ANIMA_ONLY & anima.keys():
            out[key] = anima.pop(key)
        if not anima:
            del extensions["anima"]
    talkativeness = extensions.get("talkativeness")
    if isinstance(talkativeness, str) and tavern_talkativeness(talkativeness) is not None:
        if format(float(talkativeness), "g") == talkativeness:  # as SillyTavern writes it: exported so again
            out["talkativeness"] = float(extensions.pop("talkativeness"))
    out["extensions"] = extensions
    # V3 additions, kept when the source has them (a V1/V2 card may carry them too)
    out["nickname"] = f.optional("nickname", lambda v: isinstance(v, str))
    out["group_greetings"] = f.optional("group_only_greetings", _is_texts)
    out["creator_notes_multilingual"] = f.optional(
        "creator_notes_multilingual",
        lambda v: isinstance(v, dict) and all(isinstance(t, str) for t in v.values()),
    )
    out["source"] = f.optional("source", _is_texts)
    out["creation_date"] = f.optional("creation_date", _is_int)
    out["modification_date"] = f.optional("modification_date", _is_int)
    out["assets"] = f.optional("assets", _is_assets)
    if f.rest:
        out["unknown_fields"] = f.rest
        kept = ", ".join(sorted(f.rest))
        warnings.append(f"{where}: fields Anima does not use were kept for export: {kept}")
    return {k: v for k, v in out.items() if v is not None}


def _is_texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_assets(value: Any) -> bool:
    keys = {"type", "uri", "name", "ext"}
    return isinstance(value, list) and all(
        isinstance(a, dict) and set(a) == keys and all(isinstance(a[k], str) for k in keys) for a in value
    )


# SillyTavern entry extensions that become entry fields: ext key → (field, decode, encode)
_LIFTED: dict[str, tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = {
    "match_whole_words": ("match_whole_words", lambda v: v if isinstance(v, bool) else None, lambda v: v),
    "selectiveLogic": (
        "selective_logic",
        lambda v: _LOGIC.get(v) if _is_int(v) else None,
        lambda v: {n: i for i, n in _LOGIC.items()}[v],
    ),
    "depth": ("depth", lambda v: v if _is_int(v) and v >= 0 else None, lambda v: v),
    "role": (
        "role",
        lambda v: _ROLES.get(v) if _is_int(v) else None,
        lambda v: {n: i for i, n in _ROLES.items()}[v],
    ),
    "scan_depth": ("scan_depth", lambda v: v if _is_int(v) and v >= 0 else None, lambda v: v),
    "exclude_recursion": ("exclude_recursion", lambda v: v if isinstance(v, bool) else None, lambda v: v),
    "prevent_recursion": ("prevent_recursion", lambda v: v if isinstance(v, bool) else None, lambda v: v),
}


def lorebook_fields(book: Any, path: str, where: str, problems: list[str]) -> dict[str, Any]:
    """A V2 character_book / V3 lorebook object as the fields of our Lorebook."""
    if not isinstance(book, dict):
        problems.append(f"{where}: {path}: expected an object, got {describe_type(book)}")
        return {}
    f = _Fields(book, f"{path}.", where, problems)
    out: dict[str, Any] = {
        "name": f.optional("name", lambda v: isinstance(v, str)),
        "description": f.optional("description", lambda v: isinstance(v, str)),
        "scan_depth": f.optional("scan_depth", lambda v: _is_int(v) and v >= 0),
        "token_budget": f.optional("token_budget", lambda v: _is_int(v) and v >= 0),
        "recursive_scanning": f.optional("recursive_scanning", lambda v: isinstance(v, bool)),
    }
    extensions = f.mapping("extensions")
    anima = extensions.get("anima")
    if isinstance(anima, dict) and _is_int(anima.get("max_recursion_steps")):
        out["max_recursion_steps"] = anima.pop("max_recursion_steps")
        if not anima:
            del extensions["anima"]
    out["extensions"] = extensions
    entries = f.rest.pop("entries", [])
    if not isinstance(entries, list):
        problems.append(f"{where}: {path}.entries: expected a list, got {describe_type(entries)}")
        entries = []
    check_entry_count(len(entries), f"{where}: {path}.entries")
    out["entries"] = [
        _entry_fields(e, f"{path}.entries[{i}]", where, problems) for i, e in enumerate(entries)
    ]
    if f.rest:
        out["unknown_fields"] = f.rest
    return {k: v for k, v in out.items() if v is not None}


def _entry_fields(entry: Any, path: str, where: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        problems.append(f"{where}: {path}: expected an object, got {describe_type(entry)}")
        return {"content": ""}
    f = _Fields(entry, f"{path}.", where, problems)
    out: dict[str, Any] = {"keys": f.texts("keys"), "content": f.text("content")}
    out["enabled"] = f.optional("enabled", lambda v: isinstance(v, bool))
    out["insertion_order"] = f.optional("insertion_order", _is_int)
    for key in ("case_sensitive", "selective", "constant", "use_regex"):
        out[key] = f.optional(key, lambda v: isinstance(v, bool))
    for key in ("name", "comment"):
        out[key] = f.optional(key, lambda v: isinstance(v, str))
    out["priority"] = f.optional("priority", _is_int)
    out["id"] = f.optional("id", lambda v: _is_int(v) or isinstance(v, str))
    out["secondary_keys"] = f.optional("secondary_keys", _is_texts)
    position = f.optional("position", lambda v: v in ("before_char", "after_char"))
    extensions = f.mapping("extensions")
    if position == "after_char" and extensions.get("position") == _AT_DEPTH:
        position = "at_depth"  # what SillyTavern writes for "@ depth"
        del extensions["position"]
    out["position"] = position
    for ext_key, (name, decode, _) in _LIFTED.items():
        value = decode(extensions[ext_key]) if ext_key in extensions else None
        if value is not None:
            out[name] = value
            del extensions[ext_key]
    out["extensions"] = extensions
    if f.rest:
        out["unknown_fields"] = f.rest
    return {k: v for k, v in out.items() if v is not None}


def card_to_tavern(
    card: CharacterCard, spec: Literal["v2", "v3"], strip_decorators: bool = False
) -> dict[str, Any]:
    """Our card as a V2 or V3 card object (JSON-ready)."""
    greeting = list(card.greeting)
    extensions = dict(card.extensions)
    if card.talkativeness is not None:  # where SillyTavern reads it, as text as it writes it
        extensions["talkativeness"] = format(card.talkativeness, "g")
    anima = card.model_dump(include=set(ANIMA_ONLY), exclude_defaults=True, mode="json")
    if anima:
        extensions["anima"] = {**extensions.get("anima", {}), **anima}
    data: dict[str, Any] = {
        "name": card.name,
        "description": card.description,
        "personality": card.personality,
        "scenario": card.scenario,
        "first_mes": greeting[0],
        "mes_example": card.mes_example
        if card.mes_example is not None
        else render_examples(card.example_dialogue),
        "creator_notes": card.creator_notes,
        "system_prompt": "" if card.system_prompt == DEFAULT_SYSTEM_PROMPT else card.system_prompt,
        "post_history_instructions": card.post_history_instructions,
        "alternate_greetings": greeting[1:],
        "tags": list(card.tags),
        "creator": card.creator,
        "character_version": card.character_version,
        "extensions": extensions,
    }
    if card.lorebook is not None:
        data["character_book"] = lorebook_to_tavern(card.lorebook, spec, strip_decorators)
    optional = {
        "nickname": card.nickname,
        "creator_notes_multilingual": card.creator_notes_multilingual,
        "source": card.source,
        "group_only_greetings": card.group_greetings,
        "creation_date": card.creation_date,
        "modification_date": card.modification_date,
        "assets": [a.model_dump() for a in card.assets] if card.assets is not None else None,
    }
    if spec == "v3" and optional["group_only_greetings"] is None:
        optional["group_only_greetings"] = []  # required in V3
    data |= {k: v for k, v in optional.items() if v is not None}
    data |= {k: v for k, v in card.unknown_fields.items() if k not in data}
    name, version = ("chara_card_v3", "3.0") if spec == "v3" else ("chara_card_v2", "2.0")
    return {"spec": name, "spec_version": version, "data": data}


def lorebook_to_tavern(
    book: Lorebook, spec: Literal["v2", "v3"], strip_decorators: bool = False
) -> dict[str, Any]:
    extensions = dict(book.extensions)
    if book.max_recursion_steps is not None:
        extensions["anima"] = {**extensions.get("anima", {}), "max_recursion_steps": book.max_recursion_steps}
    out: dict[str, Any] = {
        key: value
        for key, value in (
            ("name", book.name),
            ("description", book.description),
            ("scan_depth", book.scan_depth),
            ("token_budget", book.token_budget),
            ("recursive_scanning", book.recursive_scanning),
        )
        if value is not None
    }
    out["extensions"] = extensions
    out["entries"] = []
    for entry in book.entries:
        ext = dict(entry.extensions)
        item: dict[str, Any] = {
            "keys": list(entry.keys),
            "content": split_decorators(entry.content).text if strip_decorators else entry.content,
            "extensions": ext,
            "enabled": entry.enabled,
            "insertion_order": entry.insertion_order,
        }
        for key in (
            "case_sensitive",
            "name",
            "priority",
            "id",
            "comment",
            "selective",
            "secondary_keys",
            "constant",
            "use_regex",
        ):
            value = getattr(entry, key)
            if value is not None:
                item[key] = value
        if spec == "v3" and entry.use_regex is None:
            item["use_regex"] = False  # required in V3
        if entry.position == "at_depth":
            item["position"], ext["position"] = "after_char", _AT_DEPTH
        elif entry.position is not None:
            item["position"] = entry.position
        for ext_key, (name, _, encode) in _LIFTED.items():
            value = getattr(entry, name)
            if value is not None:
                ext[ext_key] = encode(value)
        item |= {k: v for k, v in entry.unknown_fields.items() if k not in item}
        out["entries"].append(item)
    out |= {k: v for k, v in book.unknown_fields.items() if k not in out}
    return out


def lorebook_from_tavern(obj: Any, where: str) -> Lorebook:
    """A shared lorebook file: `{spec: lorebook_v3, data: {...}}` or a bare character_book object."""
    problems: list[str] = []
    path = "character_book"
    if isinstance(obj, dict) and obj.get("spec") == "lorebook_v3":
        obj, path = obj.get("data"), "data"
    fields = lorebook_fields(obj, path, where, problems)
    if problems:
        raise ConfigError(problems)
    try:
        return Lorebook.model_validate(fields)
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc, where, path + ".")) from None


_V2_NAMES = {"lorebook": "character_book", "greeting": "first_mes", "group_greetings": "group_only_greetings"}


def _pydantic_problems(exc: ValidationError, where: str, path: str) -> list[str]:
    """Errors found after conversion, named by where they are in the source card."""
    problems = []
    for item in exc.errors(include_url=False):
        loc = [p for p in item["loc"] if isinstance(p, str | int)]
        if loc and loc[0] in ANIMA_ONLY:
            shown = f"{path}extensions.anima.{field_path(loc)}"
        else:
            if loc and loc[0] in _V2_NAMES:
                loc[0] = _V2_NAMES[str(loc[0])]
            shown = path + field_path(loc)
        message = str(item.get("ctx", {}).get("error", item["msg"]))
        problems.append(f"{where}: {shown}: {message[0].lower() + message[1:]}")
    return problems


def render_examples(exchanges: list[ExampleExchange]) -> str:
    """The V2 mes_example text: one <START> block per exchange."""
    return "\n".join(f"<START>\n{{{{user}}}}: {ex.user}\n{{{{char}}}}: {ex.char}" for ex in exchanges)


def parse_examples(text: str) -> list[ExampleExchange] | None:
    """mes_example as exchanges, only when rendering them gives back exactly `text` (else None: the
    text is kept as written in `mes_example`)."""
    head = "<START>\n"
    if not text.startswith(head):
        return None
    exchanges = []
    for block in text[len(head) :].split(f"\n{head}"):
        user, sep, char = block.partition("\n{{char}}: ")
        if not sep or not user.startswith("{{user}}: "):
            return None
        exchanges.append(ExampleExchange(user=user.removeprefix("{{user}}: "), char=char))
    return exchanges if render_examples(exchanges) == text else None
