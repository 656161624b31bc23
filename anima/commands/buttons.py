"""A button's data on every platform: who may press it and the command line it runs, in one string
("USER /command args") that the platform hands back on a press. A press needs nothing kept (it
still works after a restart), and a forged, stale or someone else's press gets a clear answer."""

from __future__ import annotations

from dataclasses import dataclass

from anima.commands.table import parse
from anima.core.surface import NOT_YOURS, STALE_BUTTON


@dataclass(frozen=True)
class Press:
    """A press to run: the command (`name`, `args`) as the person who pressed."""

    name: str
    args: str


def button_data(user_id: str, command: str, max_bytes: int) -> str | None:
    """The data of `command`'s button for `user_id`; None when over the platform's `max_bytes`
    (the button is left out rather than cut: a cut line would run another command)."""
    data = f"{user_id} {command}"
    return data if len(data.encode()) <= max_bytes else None


def pressed(data: str, presser_id: str, presser_is_bot: bool) -> Press | str:
    """The command a press runs, or what the presser is told instead (STALE_BUTTON, NOT_YOURS)."""
    asker, _, line = data.partition(" ")
    parsed = parse(line)
    if not asker.isdigit() or parsed is None:
        return STALE_BUTTON
    if asker != presser_id or presser_is_bot:
        return NOT_YOURS
    return Press(*parsed)
