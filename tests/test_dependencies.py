"""The dependency rules: the core never imports the features above it, nor a platform library.

Checked twice: statically (every import statement under anima/, lazy ones inside functions
included) and by importing the modules in a fresh interpreter and reading sys.modules.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ANIMA = Path(__file__).resolve().parent.parent / "anima"
ABOVE_THE_CORE = ("anima.app", "anima.bots", "anima.soul", "anima.voice", "anima.hearing")
PLATFORMS = ("discord", "telegram")
CORE_MODULES = {f"anima.core.{path.stem}" for path in (ANIMA / "core").glob("*.py")} - {"anima.core.__init__"}
# Only the entry points build the runtime: the `anima` command and the service running the bots. The
# surfaces (adapters, terminal, studio) take its parts through anima/bots/services.Services.
IMPORTS_APP = ("anima/cli.py", "anima/bots/service.py")


def _module(path: Path) -> str:
    parts = path.relative_to(ANIMA.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, module: str | None = None) -> set[str]:
    """Every module (or module.name) an `import` or `from … import` in the file names, relative
    imports resolved against `module` (by default the file's own name under anima/)."""
    names: set[str] = set()
    module = module or _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _bottom_of_the_core() -> set[str]:
    """The core modules that pull in nothing above the message types: each imports, of Anima, only
    anima.errors and other such modules (messages, tokens, ordering, …). llm and memory may use these."""
    bottom = {"anima.core.messages"}

    def allowed(name: str) -> bool:
        if not _within(name, ("anima",)) or _within(name, ("anima.errors",)) or name == "anima.core":
            return True
        module = ".".join(name.split(".")[:3])
        return _within(name, ("anima.core",)) and (module in bottom or module not in CORE_MODULES)

    while True:
        more = {
            module
            for module in CORE_MODULES - bottom
            if all(allowed(name) for name in imports_of(ANIMA / "core" / f"{module.rpartition('.')[2]}.py"))
        }
        if not more:
            return bottom | {"anima.core"}
        bottom |= more


def _rest_of_the_core() -> tuple[str, ...]:
    return tuple(sorted(CORE_MODULES - _bottom_of_the_core()))


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ANIMA / folder).rglob("*.py"))


def _where(path: Path) -> str:
    return str(path.relative_to(ANIMA.parent))


def test_the_core_imports_nothing_above_it() -> None:
    wrong = {
        _where(path): sorted(name for name in imports_of(path) if _within(name, ABOVE_THE_CORE + PLATFORMS))
        for path in _files("core")
    }
    assert {where: names for where, names in wrong.items() if names} == {}


def test_llm_and_memory_use_only_the_cores_message_types() -> None:
    above_messages = _rest_of_the_core()
    wrong = {
        _where(path): sorted(
            name for name in imports_of(path) if _within(name, (*ABOVE_THE_CORE, *PLATFORMS, *above_messages))
        )
        for path in _files("llm", "memory")
    }
    assert {where: names for where, names in wrong.items() if names} == {}


def test_only_the_platform_adapters_import_platform_libraries() -> None:
    wrong = {
        _where(path): sorted(name for name in imports_of(path) if _within(name, PLATFORMS))
        for path in _files(".")
        if not _where(path).startswith("anima/bots/")
    }
    assert {where: names for where, names in wrong.items() if names} == {}


def test_the_adapter_base_imports_no_platform() -> None:
    """What every adapter shares (anima/bots/adapter.py, surface.py) is written without a platform."""
    ours = tuple(f"anima.bots.{platform}" for platform in PLATFORMS)
    wrong = {
        _where(path): sorted(name for name in imports_of(path) if _within(name, PLATFORMS + ours))
        for path in (ANIMA / "bots" / "adapter.py", ANIMA / "bots" / "surface.py")
    }
    assert {where: names for where, names in wrong.items() if names} == {}


def test_only_the_entry_points_import_the_composition_root() -> None:
    importers = [
        _where(path)
        for path in _files(".")
        if _within_any(imports_of(path), ("anima.app",)) and not _where(path).startswith(IMPORTS_APP)
    ]
    assert importers == []


def test_no_module_in_the_package_imports_bench() -> None:
    """bench/ is not in the wheel: an import of it fails on an installed Anima."""
    importers = [_where(path) for path in _files(".") if _within_any(imports_of(path), ("bench",))]
    assert importers == []


def _within_any(names: set[str], prefixes: tuple[str, ...]) -> bool:
    return any(_within(name, prefixes) for name in names)


def test_the_static_check_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself must be able to fail: an import inside a function still counts."""
    source = tmp_path / "probe.py"
    source.write_text("def later():\n    from anima.soul import SoulStore\n    from . import prompt\n")
    names = imports_of(source, "anima.memory.probe")
    assert {"anima.soul", "anima.soul.SoulStore", "anima.memory.prompt"} <= names
    assert _within_any(names, ABOVE_THE_CORE)
    assert _within_any(imports_of(source, "anima.core.probe"), _rest_of_the_core())
    assert "anima.core.prompt" not in _bottom_of_the_core()  # it pulls in the character cards


LOADED = """
import importlib, json, pkgutil, sys
import anima.{package} as package
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if ".migrations" not in info.name:  # alembic's scripts, run only by alembic
        importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def _loaded_by(package: str) -> set[str]:
    """The modules a fresh interpreter holds after importing every module of `anima.<package>`."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED.format(package=package)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("package", ["core", "llm", "memory"])
def test_importing_the_lower_layers_loads_no_feature_and_no_platform(package: str) -> None:
    loaded = _loaded_by(package)
    assert sorted(name for name in loaded if _within(name, ABOVE_THE_CORE + PLATFORMS)) == []
    if package != "core":
        assert {name for name in loaded if _within(name, ("anima.core",))} - _bottom_of_the_core() == set()
