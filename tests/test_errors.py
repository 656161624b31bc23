"""One exception hierarchy: every error class is an AnimaError, drawn in anima/errors.py's docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import anima
from anima import errors

# Raised by the adapters only to send a reply; the adapter rewrite (issue 16) returns them instead.
LEFT_TO_THE_ADAPTER_REWRITE = {
    "anima.bots.discord.commands.CommandRefused",
    "anima.bots.discord.safety.SafetyRefused",
    "anima.bots.discord.soul.SoulRefused",
    "anima.bots.telegram.intake.NotStored",
}


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined under anima/, by its dotted path."""
    found = {}
    for info in pkgutil.walk_packages(anima.__path__, "anima."):
        if ".migrations" in info.name or info.name.endswith("__main__"):  # run, not imported
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return {path: cls for path, cls in found.items() if path not in LEFT_TO_THE_ADAPTER_REWRITE}


def _tree() -> dict[str, str | None]:
    """Each class the docstring's tree names, with the class drawn above it (None for the root)."""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        drawn = re.match(r"^    ((?:[│ ]   )*)([├└]── )?([A-Z]\w+)\b", line)
        if drawn is None:
            continue
        depth = len(drawn.group(1)) // 4 + (1 if drawn.group(2) else 0)
        path[depth:] = [drawn.group(3)]
        parents[drawn.group(3)] = path[depth - 1] if depth else None
    return parents


def test_every_error_class_is_an_anima_error() -> None:
    classes = _exception_classes()
    assert sorted(path for path, cls in classes.items() if not issubclass(cls, errors.AnimaError)) == []


def test_errors_py_docstring_draws_the_whole_hierarchy_as_it_is() -> None:
    defined = {cls.__name__: cls.__bases__[0].__name__ for cls in _exception_classes().values()}
    drawn = _tree()
    assert drawn.pop("AnimaError") is None
    assert drawn == {name: base for name, base in defined.items() if name != "AnimaError"}
