"""Hostile character cards, each built here from nothing, and what it costs Anima to refuse one.

Every case writes its file into an empty folder and runs what a person would: `anima card validate`,
`anima card import`, a card sent to a bot (install_card), or a start (CharacterLibrary.load). It runs
in a child process (`python -m tests.characters.hostile CASE FOLDER`) that reports, as JSON, the CPU
seconds and the peak RSS above what it had before the work, and what the person was told. The tests
(tests/characters/test_hostile_cards.py) and the bench (bench/hostile_cards_bench.py) share it.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import resource
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anima.characters import png

REPO = Path(__file__).resolve().parents[2]


def v2(name: str = "Mira", **data: Any) -> dict[str, Any]:
    fields = {"name": name, "description": "d", "first_mes": "hi", **data}
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": fields}


def card_png(texts: dict[str, str], compressed: dict[str, bytes] | None = None) -> bytes:
    """A small image with tEXt chunks `texts` and zTXt chunks whose compressed bodies are given."""
    data = png.with_texts(png.plain_image(8), texts)
    extra = b"".join(
        png.Chunk(b"zTXt", key.encode("latin-1") + b"\0\0" + body).encode()
        for key, body in (compressed or {}).items()
    )
    return data[:-12] + extra + data[-12:]  # before IEND


def deflated_zeros(size: int) -> bytes:
    """`size` bytes of "0" compressed (about a thousandth of that), made in 1 MiB steps."""
    packer = zlib.compressobj(9)
    block = b"0" * 2**20
    out = [packer.compress(block) for _ in range(size // 2**20)]
    return b"".join([*out, packer.flush()])


def alias_bomb() -> bytes:
    """Under 500 bytes of YAML that would become 9^7 texts: what `card validate` passed before."""
    lines = ["name: B", "description: d", "greeting: hi", "extensions:", '  a: &a ["lol","lol","lol","lol"]']
    for prev, cur in itertools.pairwise("abcdefgh"):
        lines.append(f"  {cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def billion_laughs() -> bytes:
    """The classic shape: each level ten of the one below, nine levels (10^9 laughs)."""
    body = ["name: L", "description: d", "greeting: hi", "extensions:", '  l0: &l0 "lol"']
    for i in range(1, 10):
        body.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return ("\n".join(body) + "\n").encode()


def nested_json(levels: int) -> bytes:
    return json.dumps(v2(extensions={"deep": "@"})).replace('"@"', "[" * levels + "]" * levels).encode()


def flow_lorebook_yaml(entries: int) -> bytes:
    return (
        "name: Big\ndescription: d\ngreeting: hi\nlorebook:\n  entries: ["
        + ",".join(["{content: c}"] * entries)
        + "]\n"
    ).encode()


def lorebook_json(entries: int, content: str = "c", keys: int = 1) -> bytes:
    book = {
        "entries": [
            {
                "keys": [f"k{i}x{j}" for j in range(keys)],
                "content": content,
                "enabled": True,
                "insertion_order": i,
            }
            for i in range(entries)
        ]
    }
    return json.dumps(v2(character_book=book)).encode()


def slow_regex_yaml(entries: int) -> bytes:
    """A lorebook whose every key is a catastrophic regular expression."""
    lines = ["name: Slow", "description: d", "greeting: hi", "lorebook:", "  entries:"]
    for i in range(entries):
        lines += [f"    - keys: ['(x+x+)+y{i}']", "      use_regex: true", "      content: c"]
    return ("\n".join(lines) + "\n").encode()


def capped_card_json() -> bytes:
    """The largest lorebook a card may carry: 5,000 entries of two keys and ~250 characters each."""
    from anima.characters.limits import MAX_ENTRIES_PER_LOREBOOK

    return lorebook_json(MAX_ENTRIES_PER_LOREBOOK, "Facts about the place. " * 11, keys=2)


# ---- what a person does with the file --------------------------------------------------------------


def _validate(path: Path) -> list[str]:
    from anima.characters.validate import check_card_file

    return [str(f) for f in check_card_file(path) if f.severity == "error"]


def _import(path: Path) -> list[str]:
    from anima.characters.importer import read_card, write_card

    write_card(
        read_card(path.read_bytes(), path.name, path.parent / "characters"), path.parent / "characters"
    )
    return []


def _install(path: Path) -> list[str]:
    from anima.characters.install import install_card_reporting

    install_card_reporting(path.read_bytes(), path.name, path.parent / "characters")
    return []


def _start(path: Path) -> list[str]:
    from anima.characters.library import CharacterLibrary

    library = CharacterLibrary.load(path.parent)
    return [p for problems in library.problems.values() for p in problems]


ACTIONS: dict[str, Callable[[Path], list[str]]] = {
    "validate": _validate,
    "import": _import,
    "install": _install,
    "start": _start,
}


@dataclass(frozen=True)
class Case:
    """One hostile file: how to make it, what is done with it, and what the person must be told
    (`expect`: a piece of the error; "" when the card is fine and must go in)."""

    name: str
    file: str
    make: Callable[[Path], bytes]
    action: str
    expect: str
    extra: Callable[[Path], None] = field(default=lambda folder: None)


def _shared_lorebook(levels: int) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / "world.json").write_bytes(b'{"entries": [' + b"[" * levels + b"]" * levels + b"]}")

    return write


CASES = [
    Case(
        "YAML alias bomb (under 500 bytes)",
        "bomb.yaml",
        lambda _: alias_bomb(),
        "validate",
        "anchors (&a) are not",
    ),
    Case(
        "billion laughs (YAML)",
        "laughs.yaml",
        lambda _: billion_laughs(),
        "install",
        "are not allowed in a card",
    ),
    Case("JSON nested 100,000 levels", "deep.json", lambda _: nested_json(100_000), "import", "levels deep"),
    Case(
        "shared lorebook nested 900 levels, at start",
        "mira.yaml",
        lambda _: b"name: Mira\ndescription: d\ngreeting: hi\nlorebooks: [world.json]\n",
        "start",
        "lorebooks[0]: cannot use 'world.json'",
        _shared_lorebook(900),
    ),
    Case(
        "PNG: card chunk inflating to 256 MiB",
        "zip.png",
        lambda _: card_png({}, {"chara": deflated_zeros(256 * 2**20)}),
        "import",
        "inflates past 8 MiB",
    ),
    Case(
        "PNG: two card chunks of 5 MiB each (one budget)",
        "two.png",
        lambda _: card_png({}, {"ccv3": deflated_zeros(5 * 2**20), "chara": deflated_zeros(5 * 2**20)}),
        "import",
        "inflates past 8 MiB",
    ),
    Case(
        "PNG: a 256 MiB non-card chunk beside a good card (not inflated)",
        "quiet.png",
        lambda _: card_png(
            {"chara": base64.b64encode(json.dumps(v2()).encode()).decode()},
            {"Comment": deflated_zeros(256 * 2**20)},
        ),
        "import",
        "",
    ),
    Case(
        "lorebook of 200,000 entries (YAML)",
        "big.yaml",
        lambda _: flow_lorebook_yaml(200_000),
        "install",
        "values",
    ),
    Case(
        "lorebook of 200,000 entries (JSON)",
        "big.json",
        lambda _: lorebook_json(200_000),
        "import",
        "bytes of JSON",
    ),
    Case(
        "JSON of 1,390,000 empty lists (4 MiB)",
        "lists.json",
        lambda _: (
            b'{"spec":"chara_card_v2","data":{"name":"x","extensions":{"l":[' + b"[]," * 1_390_000 + b"[]]}}}"
        ),
        "import",
        "JSON values",
    ),
    Case(
        "YAML card with numbers and dates Python cannot build",
        "odd.yaml",
        lambda _: (
            b"name: T\ndescription: d\ngreeting: hi\ncreation_date: 2001-13-40\nextensions: {n: "
            + b"9" * 5000
            + b"}\n"
        ),
        "validate",
        "is not a date",
    ),
    Case(
        "JSON card with NaN and a 5,000-digit number",
        "nan.json",
        lambda _: (
            b'{"spec":"chara_card_v2","data":{"name":"x","extensions":{"v":NaN,"n":' + b"9" * 5000 + b"}}}"
        ),
        "import",
        "NaN is not a JSON number",
    ),
    Case(
        "lorebook of 6,000 entries (JSON)",
        "six.json",
        lambda _: lorebook_json(6_000),
        "import",
        "6,000 lorebook",
    ),
    Case(
        "2,000 catastrophic regex keys",
        "slow.yaml",
        lambda _: slow_regex_yaml(2_000),
        "validate",
        "catastrophic backtracking",
    ),
    Case(
        "regex keys that take seconds and 100s of MB to compile",
        "grow.yaml",
        lambda _: (
            b"name: G\ndescription: d\ngreeting: hi\nlorebook:\n  entries:\n"
            + b"".join(b"    - {keys: ['/(?:a{65535}){%d}/'], content: c}\n" % (65535 - i) for i in range(50))
        ),
        "validate",
        "repeats too much to compile",
    ),
    Case(
        "40,000 unclosed macros in the description (each prompt expands them)",
        "braces.yaml",
        lambda _: b"name: B\ndescription: '" + b"{{x:" * 40_000 + b"'\ngreeting: hi\n",
        "validate",
        "",
    ),
    Case("a card at the caps (5,000 entries)", "capped.json", lambda _: capped_card_json(), "install", ""),
]


def run_case(case: Case, folder: Path) -> dict[str, Any]:
    """In this process: make the file, then do the action, measuring only the action."""
    (folder / "characters").mkdir(exist_ok=True)
    path = folder / case.file
    path.write_bytes(case.make(folder))
    case.extra(folder)
    from anima.errors import ConfigError

    for module in ("anima.characters.validate", "anima.characters.install", "anima.characters.library"):
        __import__(module)
    import numpy  # noqa: F401  (the JSON depth scan's; imported once per process, not per card)

    # the file is made and the modules loaded: only the action is measured
    before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        problems = ACTIONS[case.action](path)
    except ConfigError as exc:
        problems = exc.problems
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "problems": problems,
        "cpu_s": cpu,
        "rss_mb": (after.ru_maxrss - before.ru_maxrss) / 1024,
        "written": sorted(p.name for p in (folder / "characters").iterdir()),
        "bytes": path.stat().st_size,
    }


@dataclass
class Outcome:
    problems: list[str]
    cpu_s: float
    rss_mb: float
    written: list[str]
    bytes: int


def measure(case: Case, folder: Path) -> Outcome:
    """Run `case` in a fresh child process; a crash in it (a traceback) fails loudly here."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "tests.characters.hostile", case.name, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(f"{case.name}: the child failed:\n{result.stderr[-3000:]}")
    return Outcome(**json.loads(result.stdout.splitlines()[-1]))


def _main(name: str, folder: str) -> None:
    case = next(c for c in CASES if c.name == name)
    print(json.dumps(run_case(case, Path(folder))))


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    os._exit(0)  # no teardown of what the case built: it is not part of the measurement
