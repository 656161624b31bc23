"""Import a card file (V1/V2/V3 JSON, a PNG carrying one, or our YAML) into characters/, all or nothing."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from anima.characters import png
from anima.characters.card import CharacterCard
from anima.characters.library import CARD_SUFFIXES, load_card_bytes
from anima.characters.limits import (
    MAX_PNG_BYTES,
    card_id_problem,
    check_json,
    count_values,
    json_where,
    load_json,
    parse_json,
)
from anima.characters.tavern import card_from_tavern
from anima.config import LLMSettings
from anima.errors import AnimaError, ConfigError, InputRejected
from anima.yaml_source import display_path

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the loader cards are read with
MAX_CARD_BYTES = MAX_PNG_BYTES  # any card file; a JSON or YAML one is held to MAX_CARD_FILE_BYTES


@dataclass
class ImportedCard:
    """A validated card, ready to write: the YAML text, and the avatar image when it came in a PNG."""

    card: CharacterCard
    spec: str  # v1, v2, v3, or yaml
    yaml_text: str
    avatar: bytes | None = None
    warnings: list[str] = field(default_factory=list)
    llm_notes: list[str] = field(
        default_factory=list
    )  # what clamp_llm kept, dropped or lowered (in warnings too)


def read_card(
    data: bytes,
    filename: str,
    directory: Path,
    card_id: str | None = None,
    llm: LLMSettings | None = None,
) -> ImportedCard:
    """Validate a card file's bytes for `directory`. Nothing is written; ConfigError lists every problem.

    With `llm` (this deployment's backends), the card's own `llm` settings are held to them
    (clamp_llm) and every change is in the warnings.
    """
    name = Path(filename).name
    if len(data) > MAX_CARD_BYTES:
        raise InputRejected(
            [f"{name}: {len(data):,} bytes is more than the {MAX_CARD_BYTES:,} a card may have"]
        )
    if card_id is not None and (problem := card_id_problem(card_id)):
        raise InputRejected([f"{name}: --id: {problem}"])
    suffix = Path(filename).suffix.lower()
    if suffix in CARD_SUFFIXES and not png.is_png(data):
        return _read_yaml_card(data, name, directory, card_id, llm)
    avatar = None
    if png.is_png(data) or suffix in (".png", ".apng"):
        obj, where, warnings, avatar = _card_in_png(data, name)
    else:
        obj, where, warnings = _json(data, name), name, []
    converted = card_from_tavern(obj, where)
    card = converted.card
    card.id = card_id or card_id_for(card.name, filename)
    if avatar is not None:
        card.avatar = f"{card.id}.png"
    notes = clamp_llm(card, llm, name)[0] if llm is not None else []
    header = f"Imported from {name} (Character Card {converted.spec.upper()})."
    text = dump_card_yaml(card, header, verify=False)
    # loaded where it will be written (its shared lorebooks resolve from there), and compared
    _same_card(card, load_card_bytes(text.encode("utf-8"), directory / f"{card.id}.yaml"))
    return ImportedCard(card, converted.spec, text, avatar, [*warnings, *converted.warnings, *notes], notes)


def _read_yaml_card(
    data: bytes, name: str, directory: Path, card_id: str | None, llm: LLMSettings | None
) -> ImportedCard:
    card_id = card_id or card_id_for("", name)
    card = load_card_bytes(data, directory / f"{card_id}.yaml")  # shared lorebooks resolve from there
    text = data.decode("utf-8")
    notes, changed = clamp_llm(card, llm, name) if llm is not None else ([], False)
    if changed:
        text = dump_card_yaml(
            card, f"Installed from {name}; its llm settings were held to this deployment's."
        )
        notes.append(f"{name}: the card was saved without its comments, with the llm settings above")
    return ImportedCard(card, "yaml", text, warnings=notes, llm_notes=notes)


def clamp_llm(card: CharacterCard, llm: LLMSettings, where: str) -> tuple[list[str], bool]:
    """Hold an imported card's `llm` overrides to this deployment's configured backends: an unknown
    backend and another model are dropped, max_tokens is lowered to the backend's. Returns what
    was noticed (every override is reported, kept or not) and whether the card changed."""
    wanted = card.llm
    notes: list[str] = []
    changed = False
    if wanted.backend is not None and wanted.backend not in llm.backends:
        notes.append(
            f"{where}: llm.backend: {wanted.backend!r} is not defined in llm.backends here; dropped, "
            f"the card uses the default backend {llm.default!r}"
        )
        wanted.backend, changed = None, True
    name = wanted.backend or llm.default
    backend = llm.backends[name]
    if wanted.backend is not None and wanted.backend != llm.default:
        notes.append(
            f"{where}: llm.backend: the card asks for backend {name!r} instead of the default "
            f"{llm.default!r}; kept: remove llm.backend from its YAML to use the default"
        )
    configured = getattr(backend, "model", None)
    if wanted.model is not None and wanted.model != configured:
        also = f" ({configured})" if configured else ""
        notes.append(
            f"{where}: llm.model: {wanted.model[:80]!r} dropped: an imported card uses the model "
            f"backend {name!r} is configured with{also}"
        )
        wanted.model, changed = None, True
    if wanted.max_tokens is not None and wanted.max_tokens > backend.max_tokens:
        notes.append(
            f"{where}: llm.max_tokens: {wanted.max_tokens:,} lowered to {backend.max_tokens:,}, "
            f"the max_tokens of backend {name!r}"
        )
        wanted.max_tokens, changed = backend.max_tokens, True
    return notes, changed


def _json(data: bytes, where: str) -> Any:
    obj = load_json(data, where)
    count_values(obj, json_where(where))
    return obj


def _card_in_png(data: bytes, name: str) -> tuple[Any, str, list[str], bytes]:
    try:
        chunks = png.read_chunks(data)
        texts = png.card_texts(chunks)
    except png.PngError as exc:
        raise InputRejected([f"{name}: {exc}"]) from None
    if not texts:
        raise ConfigError([f"{name}: no character card inside: the PNG has no 'ccv3' or 'chara' text chunk"])
    warnings: list[str] = []
    for keyword in png.CARD_KEYWORDS:
        if keyword not in texts:
            continue
        where = f"{name} ({keyword} chunk)"
        try:
            return _decode_chunk(texts[keyword], where), where, warnings, png.without_card(chunks)
        except ConfigError as exc:
            if keyword == "ccv3" and "chara" in texts:
                warnings.append(f"{exc.problems[0]}; used the 'chara' (V2) chunk instead")
                continue
            raise
    raise AssertionError("unreachable: texts had a card keyword")


def _decode_chunk(text: str, where: str) -> Any:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError([f"{where}: not base64; a card chunk holds base64 of the card's JSON"]) from None
    check_json(raw, where)
    try:
        obj = parse_json(raw.decode("utf-8-sig"), where)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError([f"{where}: the base64 does not decode to JSON: {exc}"]) from None
    count_values(obj, json_where(where))
    return obj


def card_id_for(name: str, filename: str) -> str:
    """A file-name-safe id from the card's name, else from the file name: "Aiko Tanaka" → "aiko-tanaka"."""
    for source in (name, Path(filename).stem):
        ascii_text = unicodedata.normalize("NFKD", source).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40].strip("-")
        if slug:
            return slug
    return "character"


class _CardDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]  # a base chosen at run time (libyaml's or pure Python's) is not a static type
    """Multi-line texts as `|` blocks, so imported cards read like hand-written ones (libyaml's
    emitter when there is one: a 5,000-entry lorebook dumps in a tenth of the time)."""


def _represent_text(dumper: yaml.BaseDumper, text: str) -> yaml.ScalarNode:
    # YAML reads \r\n, NEL and the Unicode line separators back as \n unless they are escaped
    style = '"' if any(c in text for c in "\r\x85\u2028\u2029") else "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_CardDumper.add_representer(str, _represent_text)


def dump_card_yaml(card: CharacterCard, header: str = "", verify: bool = True) -> str:
    """The card as YAML; only what differs from the defaults. Checked to read back as the same card
    (`verify`; a caller that loads the text itself compares what it loaded with _same_card)."""
    data = card.model_dump(mode="json", exclude_defaults=True)
    text = yaml.dump(data, Dumper=_CardDumper, sort_keys=False, allow_unicode=True, width=100)
    if header:
        text = f"# {header}\n# Every field is described in docs/cards-and-lorebooks.md.\n{text}"
    if verify:
        again = CharacterCard.model_validate(yaml.load(text, Loader=_LOADER))
        again.id = card.id
        _same_card(card, again)
    return text


def _same_card(card: CharacterCard, again: CharacterCard) -> None:
    if again.model_dump() != card.model_dump():
        raise AnimaError(f"card {card.id!r} would not read back the same from YAML; please report this card")


def write_card(imported: ImportedCard, directory: Path, replace: bool = False) -> Path:
    """Write the YAML (and the avatar first, so the card never names a missing image), each atomically."""
    card_id = imported.card.id
    if problem := card_id_problem(card_id):
        raise InputRejected([f"{problem}; nothing was written"])
    target = directory / f"{card_id}.yaml"
    existing = [directory / f"{card_id}{suffix}" for suffix in CARD_SUFFIXES]
    taken = [p for p in existing if p.exists() and (p != target or not replace)]
    if taken:
        raise ConfigError(
            [
                f"{display_path(taken[0])} already exists: a card with id {card_id!r} is installed; "
                "pass --replace to overwrite it, or import it under another id with --id"
            ]
        )
    directory.mkdir(parents=True, exist_ok=True)
    if imported.avatar is not None:
        atomic_write(directory / f"{card_id}.png", imported.avatar)
    atomic_write(target, imported.yaml_text.encode("utf-8"))
    return target


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a hidden temporary file beside `path`, then rename it over: never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
