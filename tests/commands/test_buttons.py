"""A button's data, the same on every platform: who may press it and the command line it runs."""

from __future__ import annotations

from anima.commands.buttons import Press, button_data, pressed
from anima.core.surface import NOT_YOURS, STALE_BUTTON


def test_the_person_asked_runs_the_buttons_command() -> None:
    data = button_data("42", "/forget yes", 64)
    assert data is not None
    assert pressed(data, "42", presser_is_bot=False) == Press("forget", "yes")


def test_anyone_else_or_a_bot_is_told_the_button_is_not_theirs() -> None:
    data = button_data("42", "/forget yes", 64)
    assert data is not None
    assert pressed(data, "7", presser_is_bot=False) == NOT_YOURS
    assert pressed(data, "42", presser_is_bot=True) == NOT_YOURS


def test_forged_or_unparsable_data_is_a_stale_button() -> None:
    assert pressed("someone /forget yes", "42", presser_is_bot=False) == STALE_BUTTON
    assert pressed("42 forget", "42", presser_is_bot=False) == STALE_BUTTON
    assert pressed("", "42", presser_is_bot=False) == STALE_BUTTON


def test_a_command_line_over_the_platforms_limit_gets_no_button() -> None:
    assert button_data("42", "/character " + "é" * 30, 64) is None  # 72 bytes: cut, it would run another
    assert button_data("42", "/character Zoë", 64) == "42 /character Zoë"
