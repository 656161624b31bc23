"""The `anima card` subcommands: new, validate, import, export."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from anima.characters.exporter import ExportFormat, export_card, export_name
from anima.characters.importer import MAX_CARD_BYTES, atomic_write, card_id_for, read_card, write_card
from anima.characters.library import CARD_SUFFIXES, CharacterLibrary
from anima.characters.template import card_template
from anima.characters.validate import Finding, card_paths, check_card_file
from anima.config import LLMSettings
from anima.errors import ConfigError
from anima.yaml_source import display_path


def new_card(name: str, directory: Path, out: TextIO | None = None) -> int:
    """Write a commented template for a new card; never overwrites one."""
    out = out or sys.stdout
    card_id = card_id_for(name, name)
    path = directory / f"{card_id}.yaml"
    taken = [p for p in (directory / f"{card_id}{s}" for s in CARD_SUFFIXES) if p.exists()]
    if taken:
        raise ConfigError([f"{display_path(taken[0])} already exists; pick another name or edit that card"])
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(path, card_template(name).encode("utf-8"))
    out.write(f"wrote {display_path(path)}: edit it, then run `anima card validate {display_path(path)}`\n")
    return 0


def validate_cards(paths: list[Path], as_json: bool, out: TextIO | None = None) -> int:
    """Every problem of every card; exit code 1 when any is an error."""
    out = out or sys.stdout
    findings: dict[str, list[Finding]] = {}
    for path in card_paths(paths):
        findings[display_path(path)] = check_card_file(path)
    failed = any(f.severity == "error" for found in findings.values() for f in found)
    if as_json:
        files = [
            {
                "file": file,
                "valid": not any(f.severity == "error" for f in found),
                "problems": [f.as_json() for f in found],
            }
            for file, found in findings.items()
        ]
        json.dump({"valid": not failed, "files": files}, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return 1 if failed else 0
    for file, found in findings.items():
        for finding in found:
            out.write(f"{finding}\n")
        if not any(f.severity == "error" for f in found):
            out.write(f"ok: {file}\n")
    return 1 if failed else 0


def import_cards(
    files: list[Path],
    directory: Path,
    replace: bool = False,
    card_id: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    llm: LLMSettings | None = None,
) -> int:
    """Import each file into `directory`: each one whole or not at all; exit code 1 if any failed.

    With `llm`, a card's own llm settings are held to those backends and every change is a warning."""
    out, err = out or sys.stdout, err or sys.stderr
    if card_id is not None and len(files) > 1:
        raise ConfigError(["--id names one card: import one file at a time with it"])
    failed = 0
    for file in files:
        try:
            if file.stat().st_size > MAX_CARD_BYTES:
                raise ConfigError(
                    [
                        f"{file.name}: {file.stat().st_size:,} bytes is more than the "
                        f"{MAX_CARD_BYTES:,} a card may have"
                    ]
                )
            imported = read_card(file.read_bytes(), file.name, directory, card_id, llm)
            written = write_card(imported, directory, replace=replace)
        except FileNotFoundError:
            err.write(f"error: {display_path(file)}: file not found\n")
            failed += 1
            continue
        except ConfigError as exc:
            err.write("".join(f"error: {p}\n" for p in exc.problems))
            failed += 1
            continue
        for warning in imported.warnings:
            err.write(f"warning: {warning}\n")
        picture = imported.card.avatar if imported.avatar else None
        avatar = f", avatar {display_path(directory / picture)}" if picture else ""
        out.write(
            f"imported {display_path(file)} ({imported.spec.upper()}) → {display_path(written)}{avatar}\n"
        )
    return 1 if failed else 0


def export_one(
    name: str, fmt: ExportFormat, directory: Path, dest: Path | None, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    library = CharacterLibrary.load(directory)
    card = library.get(name)
    data = export_card(card, fmt, directory)
    target = dest or Path(export_name(card, fmt))
    if target.is_dir():
        target = target / export_name(card, fmt)
    atomic_write(target, data)
    out.write(f"exported {card.id} as {fmt.upper()} → {display_path(target)}\n")
    return 0
