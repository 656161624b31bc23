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
from anima.characters.tavern import card_from_tavern
from anima.errors import AnimaError, ConfigError
from anima.yaml_source import display_path

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the loader cards are read with
MAX_CARD_BYTES = 20 * 1024 * 1024  # a PNG card with a large avatar is a few MB


@dataclass
class ImportedCard:
    """A validated card, ready to write: the YAML text, and the avatar image when it came in a PNG."""

    card: CharacterCard
    spec: str  # v1, v2, v3, or yaml
    yaml_text: str
    avatar: bytes | None = None
    warnings: list[str] = field(default_factory=list)


def read_card(data: bytes, filename: str, directory: Path, card_id: str | None = None) -> ImportedCard:
    """Validate a card file's bytes for `directory`. Nothing is written; ConfigError lists every problem."""
    name = Path(filename).name
    if len(data) > MAX_CARD_BYTES:
        raise ConfigError(
            [f"{name}: {len(data):,} bytes is more than the {MAX_CARD_BYTES:,} a card may have"]
        )
    suffix = Path(filename).suffix.lower()
    if suffix in CARD_SUFFIXES and not png.is_png(data):
        return _read_yaml_card(data, name, directory, card_id)
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
    text = dump_card_yaml(card, f"Imported from {name} (Character Card {converted.spec.upper()}).")
    load_card_bytes(text.encode("utf-8"), directory / f"{card.id}.yaml")  # loads where it will be written
    return ImportedCard(card, converted.spec, text, avatar, [*warnings, *converted.warnings])


def _read_yaml_card(data: bytes, name: str, directory: Path, card_id: str | None) -> ImportedCard:
    card_id = card_id or card_id_for("", name)
    card = load_card_bytes(data, directory / f"{card_id}.yaml")  # shared lorebooks resolve from there
    return ImportedCard(card, "yaml", data.decode("utf-8"))


def _json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{where}: not a card: neither a PNG nor UTF-8 JSON (byte {exc.start})"]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{where}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})"]) from None


def _card_in_png(data: bytes, name: str) -> tuple[Any, str, list[str], bytes]:
    try:
        chunks = png.read_chunks(data)
    except png.PngError as exc:
        raise ConfigError([f"{name}: {exc}"]) from None
    texts = png.card_texts(chunks)
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
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError([f"{where}: the base64 does not decode to JSON: {exc}"]) from None


def card_id_for(name: str, filename: str) -> str:
    """A file-name-safe id from the card's name, else from the file name: "Aiko Tanaka" → "aiko-tanaka"."""
    for source in (name, Path(filename).stem):
        ascii_text = unicodedata.normalize("NFKD", source).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40].strip("-")
        if slug:
            return slug
    return "character"


class _CardDumper(yaml.SafeDumper):
    """Multi-line texts as `|` blocks, so imported cards read like hand-written ones."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # YAML reads \r\n, NEL and the Unicode line separators back as \n unless they are escaped
    style = '"' if any(c in text for c in "\r\x85\u2028\u2029") else "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_CardDumper.add_representer(str, _represent_text)


def dump_card_yaml(card: CharacterCard, header: str = "") -> str:
    """The card as YAML; only what differs from the defaults. Checked to read back as the same card."""
    data = card.model_dump(mode="json", exclude_defaults=True)
    text = yaml.dump(data, Dumper=_CardDumper, sort_keys=False, allow_unicode=True, width=100)
    if header:
        text = f'# {header}\n# Every field is described in docs/cards-and-lorebooks.md.\n{text}'
    again = CharacterCard.model_validate(yaml.load(text, Loader=_LOADER))
    again.id = card.id
    if again.model_dump() != card.model_dump():
        raise AnimaError(f"card {card.id!r} would not read back the same from YAML; please report this card")
    return text


def write_card(imported: ImportedCard, directory: Path, replace: bool = False) -> Path:
    """Write the YAML (and the avatar first, so the card never names a missing image), each atomically."""
    card_id = imported.card.id
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
