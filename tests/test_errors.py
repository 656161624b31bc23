"""One exception hierarchy, drawn in anima/errors.py's docstring; one meaning per name."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import anima
from anima import errors

# Raised as the platform library's own error on purpose: PTB retries an update whose TelegramError
# says it could not be stored (the inbox's write failed), so Telegram delivers it again.
AS_PLATFORM_ERRORS = {"anima.bots.telegram.intake.NotStored"}


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
    return {path: cls for path, cls in found.items() if path not in AS_PLATFORM_ERRORS}


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


# Every public name has one meaning (Speaker is only the core's voice protocol since Discord's became Sender).
STILL_TWO_MEANINGS: set[str] = set()


def test_no_new_public_name_has_two_meanings() -> None:
    """A class or type alias is defined once under anima/ (Turn and Delivery each meant two things)."""
    defined: dict[str, list[str]] = {}
    for path in sorted((Path(anima.__file__).parent).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name) and t.id[:1].isupper()]
                names = [name for name in names if not name.isupper()]  # CONSTANTS may repeat
            for name in names:
                if not name.startswith("_"):
                    defined.setdefault(name, []).append(str(path))
    twice = {name for name, paths in defined.items() if len(paths) > 1}
    assert twice - STILL_TWO_MEANINGS == set()
