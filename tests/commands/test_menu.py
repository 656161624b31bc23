"""The command menu platforms build from the one table (anima.commands.menu): every command, in
the table's order, with what it takes and its words cut to the platform's limit."""

from __future__ import annotations

from anima.commands import COMMANDS
from anima.commands.menu import FILE, MenuEntry, Option, menu


def test_every_command_is_in_the_menu_in_the_tables_order() -> None:
    assert [(e.name, e.description) for e in menu(100)] == [(c.name, c.description) for c in COMMANDS]


def test_a_command_takes_its_words_as_one_option_and_sing_a_file_too() -> None:
    by_name = {entry.name: entry for entry in menu(100)}

    assert by_name["about"].options == () and not by_name["about"].slow
    assert by_name["voice"].options == (Option("args", "on|off"),)
    assert by_name["sing"] == MenuEntry(
        "sing",
        by_name["sing"].description,
        (Option("args", "tempo=96 | C4 D4 E4 | la la la"), Option("file", FILE)),
        slow=True,
    )


def test_descriptions_are_cut_to_the_platforms_limit() -> None:
    entries = menu(12)
    assert (
        max(len(text) for e in entries for text in (e.description, *(o.description for o in e.options))) == 12
    )
    assert next(e for e in entries if e.name == "about").description == "Who answers "
