"""A platform's command menu, made from the one table: each command's name, its description within
the platform's limit, and what it takes — its words as one text option, and a file where one may
come with it. Telegram's menu (setMyCommands) and Discord's slash commands are built from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from anima.commands.table import COMMANDS

FILE = "a MIDI or MusicXML file"  # the one file a command takes today: a score to /sing


@dataclass(frozen=True)
class Option:
    """One input of a command in a platform's menu: `args`, its words ("on|off"), or a `file`."""

    name: Literal["args", "file"]
    description: str


@dataclass(frozen=True)
class MenuEntry:
    """One command as a menu shows it. `slow`: its answer may take longer than a platform waits for
    one (a song), so the platform is told at once that it comes."""

    name: str
    description: str
    options: tuple[Option, ...] = ()
    slow: bool = False


def menu(max_description: int) -> list[MenuEntry]:
    """Every command of the table, its descriptions cut to `max_description` characters."""
    entries = []
    for command in COMMANDS:
        options: tuple[Option, ...] = (
            (Option("args", command.args[:max_description]),) if command.args else ()
        )
        if command.takes_file:
            options += (Option("file", FILE[:max_description]),)
        entries.append(
            MenuEntry(command.name, command.description[:max_description], options, command.takes_file)
        )
    return entries
