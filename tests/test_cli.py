"""The `anima` command end to end, in a subprocess, on the real embedded model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

ANIMA = str(Path(sys.executable).parent / "anima")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"characters_dir: {REPO / 'characters'}\n"
        "default_character: aiko\n"
        "llm:\n  backends:\n    embedded: {kind: embedded, context_window: 1024, max_tokens: 24}\n"
        f"memory:\n  database_url: sqlite+aiosqlite:///{tmp_path / 'anima.db'}\n"
    )
    return path


def anima(*args: str, stdin: str = "", config: Path | None = None) -> subprocess.CompletedProcess[str]:
    flags = ["--config", str(config)] if config else []
    return subprocess.run(
        [ANIMA, *flags, *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=REPO
    )


@pytest.mark.slow
def test_piped_chat_replies_and_a_second_run_remembers_the_first(config: Path) -> None:
    first = anima("chat", "aiko", "--user", "lin", stdin="My name is Lin.\n", config=config)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("Aiko: ") and "lin" in lines[0]  # the greeting, with {{user}} filled in
    assert lines[1].startswith("Aiko: ") and len(lines[1]) > len("Aiko: ")
    assert not first.stdout.endswith("\n\n")  # one newline ends the reply (paragraphs may sit inside)
    assert "Loading SmolLM2-135M-Instruct.Q4_1.gguf" in first.stderr and "Model ready" in first.stderr

    second = anima("chat", "aiko", "--user", "lin", stdin="/memory\n", config=config)
    assert second.returncode == 0, second.stderr
    assert "Aiko has known you since" in second.stdout
    assert " lin: My name is Lin." in second.stdout
    assert lines[1].removeprefix("Aiko: ").strip() in second.stdout


@pytest.mark.slow
def test_reset_and_switching_character_from_the_chat(config: Path) -> None:
    result = anima(
        "chat",
        "--user",
        "ana",
        stdin="/character grimble\n/reset\n/memory\n/quit\nnever read\n",
        config=config,
    )
    assert result.returncode == 0, result.stderr
    assert "Grimble: Hmph. Forge is hot. Buying or just looking?" in result.stdout
    assert "Grimble starts afresh with you here." in result.stdout
    assert (
        "Grimble has known you since" in result.stdout
        and "0 in the current conversation" not in result.stdout
    )


def test_an_unknown_character_lists_the_available_ones(config: Path) -> None:
    result = anima("chat", "bob", config=config)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no character named 'bob'; available: aiko, grimble, xingyao"


def test_config_check_validates_without_starting_anything(config: Path) -> None:
    result = anima("config", "check", config=config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ok: {config}: 3 characters, backends: embedded"


def test_config_check_reports_a_broken_config_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("characters_dir: characters\nllm:\n  default: nowhere\n")
    result = anima("config", "check", config=bad)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {bad}:2: llm: backend 'nowhere' is not defined under llm.backends (defined: embedded)"
    )


def test_characters_lists_each_card_with_its_status() -> None:
    result = anima("characters")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith("ok       aiko         Aiko (default)")


def test_the_core_imports_no_platform_library() -> None:
    code = "import sys, anima.core, anima.cli; print(sorted({'discord', 'telegram'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


STAGES = ("input", "output")
# The editable install puts a checkout on every interpreter's path: take it (and cwd) off again.
INSTALLED = """
import os, sys
checkouts = set(os.environ["CHECKOUTS"].split(os.pathsep))
sys.path = [os.environ["PACKAGE"], *(path for path in sys.path[1:] if path not in checkouts)]
from anima.cli import main
sys.exit(main(sys.argv[1:]))
"""


def installed_anima(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`anima` as from an installed wheel: a copy of anima/ alone on the path (no bench/, no tests/)."""
    package = tmp_path / "site"
    shutil.copytree(REPO / "anima", package / "anima", ignore=shutil.ignore_patterns("__pycache__"))
    editable = [line.strip() for pth in _editable_pths() for line in pth.read_text().splitlines()]
    checkouts = {str(REPO), *editable}
    env = {**os.environ, "PACKAGE": str(package), "CHECKOUTS": os.pathsep.join(checkouts)}
    env.pop("PYTHONPATH", None)
    command = [sys.executable, "-c", INSTALLED, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)


def _editable_pths() -> list[Path]:
    sites = [Path(path) for path in sys.path if Path(path).is_dir()]
    return [pth for site in sites for pth in site.glob("_editable_impl_anima*.pth")]


def test_anima_bench_safety_runs_without_a_checkout(tmp_path: Path, config: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    for name in ("safety_adversarial.jsonl", "safety_benign.jsonl"):
        lines = (REPO / "tests" / "data" / name).read_text().splitlines()
        picked = [next(line for line in lines if f'"stage": "{kind}"' in line) for kind in STAGES]
        (cases / name).write_text("\n".join(picked) + "\n")
    done = installed_anima(tmp_path, "--config", str(config), "bench", "safety", "--cases", str(cases))
    assert done.returncode == 0, done.stderr
    assert "$ anima bench safety" in done.stdout
    assert "| benign false positives, input | 0.00% (0/1) | ≤ 1% |" in done.stdout


def test_anima_bench_safety_without_cases_names_the_option(tmp_path: Path, config: Path) -> None:
    done = installed_anima(tmp_path, "--config", str(config), "bench", "safety")
    assert done.returncode != 0
    assert "pass --cases DIR" in done.stderr and "Traceback" not in done.stderr
