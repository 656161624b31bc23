"""Hostile replay: about a hundred inputs of every kind issue 17 names, each in its own child process.

Score bombs and malformed scores, long tempo maps, YAML alias bombs, deep JSON, huge lorebooks,
PNG inflate bombs, path escapes, a megabyte without spaces to speak, invalid UTF-8 and floods on
the terminal's stdin, streamed deltas carrying a canary, an address or the system prompt, forged
button presses, a forget racing messages, secrets on failing starts, bad command lines and broken
configs. Each case runs in a fresh interpreter (`python -m bench.hostile_bench --child NAME DIR`)
under a 3 GB address-space limit; only the handling is measured (CPU, and peak RSS over what the
child had before it), the setup (imports, a started runtime, fake servers) is not. A case passes
when the person gets a clear error or the right handling; the table says which did not, and why.

Run: .venv/bin/python -m bench hostile_bench   (--quick: one case of each class, for the test)
"""

# ruff: noqa: E501  (the cases read as a table, one a line)
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench hostile_bench"
MEMORY_LIMIT = 3 * 1024**3
CHILD_TIMEOUT_S = 90.0  # past this a case counts as unanswered
MAX_CPU_S, MAX_RSS_MB = 2.0, 200.0  # the bounds per input
TOKEN = "5432109876:AAF-never-to-be-printed-telegram-token"
DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.never.to-be-printed-discord"
PASSWORD = "s3cret-Pa55word-never-printed"
API_KEY = "sk-never-to-be-printed-0123456789abcdef"
SECRETS = (TOKEN.split(":")[1], DISCORD_TOKEN, PASSWORD, API_KEY)


@dataclass
class Result:
    """What the person was shown: a clear error, the right handling, or what went wrong."""

    verdict: str  # "error" (a clear one), "handled", "wrong", "silent", "crash"
    shown: str = ""


@dataclass(frozen=True)
class Case:
    klass: str
    name: str
    run: Callable[[Path, Meter], Awaitable[Result] | Result]  # the command line's run on the main thread
    quick: bool = False  # in the test's fast subset
    needs: tuple[str, ...] = ("anima.cli", "anima.app")  # imported before the handling is measured


class Meter:
    """Brackets the handling: setup before `start()` is not counted."""

    def __init__(self) -> None:
        self.cpu0, self.rss0 = _usage()

    def start(self) -> None:
        self.cpu0, self.rss0 = _usage()

    def cost(self) -> tuple[float, float]:
        cpu, rss = _usage()
        return cpu - self.cpu0, max(rss - self.rss0, 0) / 1024


def _usage() -> tuple[float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_maxrss


# ---------------------------------------------------------------- scores


def _score(make: Callable[[], bytes], name: str) -> Callable[[Path, Meter], Awaitable[Result]]:
    async def run(folder: Path, meter: Meter) -> Result:
        from anima.errors import ScoreError
        from anima.voice.sing.files import read_score

        data = make()
        meter.start()
        try:
            read_score(data, name).check(backing=True)
        except ScoreError as exc:
            return Result("error", str(exc))
        return Result("handled", "sung")

    return run


def _notation(text: str) -> Callable[[Path, Meter], Awaitable[Result]]:
    async def run(folder: Path, meter: Meter) -> Result:
        from anima.errors import ScoreError
        from anima.voice.sing.notation import parse

        meter.start()
        try:
            parse(text).score.check(backing=True)
        except ScoreError as exc:
            return Result("error", str(exc))
        return Result("handled", "sung")

    return run


def _score_cases() -> list[Case]:
    from tests.voice import hostile as h

    def bar(*notes: str) -> str:
        return "".join(notes)

    files: list[tuple[str, Callable[[], bytes], str]] = [
        (".mxl bomb, 1 GB from 1 MB", lambda: h.mxl_bomb(1000), "s.mxl"),
        (".mxl bomb whose headers claim 1 KB", lambda: h.mxl_bomb(1000, lie_about_size=True), "s.mxl"),
        (".mxl of 12 members of 1 MB", h.mxl_many_members, "s.mxl"),
        (".mxl that is not a zip", lambda: b"PK\x03\x04" + b"\0" * 100, "s.mxl"),
        ("MusicXML entity bomb", h.xml_entity_bomb, "s.musicxml"),
        ("MusicXML external entity (/etc/passwd)", h.xml_external_entity, "s.musicxml"),
        ("MusicXML of 250k empty elements", h.xml_flood, "s.musicxml"),
        ("MusicXML nested 100k deep", h.xml_deep, "s.musicxml"),
        ("MusicXML of 10,000 notes", lambda: h.xml_many_notes(10_000), "s.musicxml"),
        ("MusicXML step H", lambda: h.musicxml(bar(h.xml_note(step="H"))), "s.musicxml"),
        ("MusicXML divisions 0", lambda: h.musicxml(bar(h.xml_note()), divisions="0"), "s.musicxml"),
        ("MusicXML duration NaN", lambda: h.musicxml(bar(h.xml_note(duration="NaN"))), "s.musicxml"),
        ("MusicXML duration -4", lambda: h.musicxml(bar(h.xml_note(duration="-4"))), "s.musicxml"),
        ("MusicXML duration inf", lambda: h.musicxml(bar(h.xml_note(duration="inf"))), "s.musicxml"),
        ("MusicXML tempo 0", lambda: h.musicxml(bar(h.xml_note()), tempo="0"), "s.musicxml"),
        ("MusicXML octave 99", lambda: h.musicxml(bar(h.xml_note(octave="99"))), "s.musicxml"),
        ("MusicXML truncated", lambda: h.musicxml(bar(h.xml_note()))[:-40], "s.musicxml"),
        ("MIDI, 100k tempo changes", lambda: h.midi_tempo_map(100_000, 2_000), "s.mid"),
        ("MIDI, 10,000 notes", lambda: h.midi_song(10_000), "s.mid"),
        ("MIDI, tempo 0", lambda: h.midi_song(4, tempos=h.tempo(0, 0)), "s.mid"),
        ("MIDI, ticks_per_beat 0", lambda: h.smf(h.note_on(0, 60) + h.note_off(480, 60), ticks_per_beat=0),
         "s.mid"),
        ("MIDI truncated mid-track", lambda: h.midi_song(8)[:-30], "s.mid"),
        ("MIDI of random bytes", lambda: b"MThd" + os.urandom(2000), "s.mid"),
        ("MIDI with a 1-tick note", lambda: h.smf(h.note_on(0, 60) + h.note_off(1, 60)), "s.mid"),
        ("MIDI lyric of 100k characters", lambda: h.smf(h.lyric(0, "la" * 50_000) + h.note_on(0, 60)
                                                        + h.note_off(480, 60)), "s.mid"),
    ]  # fmt: skip
    needs = ("anima.voice.sing.files", "anima.voice.sing.notation")
    cases = [Case("score file", name, _score(make, file), quick=i == 0, needs=needs) for i, (name, make, file)
             in enumerate(files)]  # fmt: skip
    texts = [
        ("6,000 characters of notes (the cap)", "/sing | " + "C4 " * 2000 + "| " + "la " * 2000),
        ("60,000 characters of notes", "/sing | " + "C4 " * 20_000 + "| " + "la " * 20_000),
        ("note H9 and tempo NaN", "/sing tempo=nan | H9 C4 | la la"),
        ("tempo 0", "/sing tempo=0 | C4 D4 | la la"),
        ("tempo 1e308", "/sing tempo=1e308 | C4 D4 | la la"),
        ("a duration of 1/0", "/sing | C4/0 D4 | la la"),
        ("no notes at all", "/sing | | "),
        ("10,000 distinct syllables", "/sing | " + "C4 " * 1000 + "| " + " ".join(f"x{i}" for i in range(1000))),
    ]  # fmt: skip
    cases += [Case("sing notation", name, _notation(text), quick=i == 0, needs=needs)
              for i, (name, text) in enumerate(texts)]  # fmt: skip
    return cases


# ---------------------------------------------------------------- speech text


def _speech(make: Callable[[], str]) -> Callable[[Path, Meter], Awaitable[Result]]:
    async def run(folder: Path, meter: Meter) -> Result:
        from anima.voice.text import raw_limit, script

        text = make()
        meter.start()
        kept = text[: raw_limit(1500)]  # what `anima say -` and a reply read of it
        segments = script(kept, "en", 1500)
        spoken = sum(len(s.text) for s in segments)
        return Result("handled" if spoken <= 1600 else "wrong", f"{spoken} characters to speak")

    return run


def _speech_cases() -> list[Case]:
    texts: list[tuple[str, Callable[[], str]]] = [
        ("1 MB without spaces", lambda: ("a@b" * 340_000)[:1_000_000]),
        ("1 MB of one emoji", lambda: "🙂" * 1_000_000),
        ("1 MB of *asterisks*", lambda: "*a" * 500_000),
        ("1 MB of URLs", lambda: "https://x.example/" + "a/" * 500_000),
        ("1 MB of digits", lambda: "9" * 1_000_000),
    ]
    return [Case("speech text", name, _speech(make), quick=i == 0, needs=("anima.voice.text",))
            for i, (name, make) in enumerate(texts)]  # fmt: skip


# ---------------------------------------------------------------- cards


def _card(index: int) -> Callable[[Path, Meter], Awaitable[Result]]:
    async def run(folder: Path, meter: Meter) -> Result:
        from tests.characters.hostile import CASES

        case = CASES[index]
        meter.start()
        outcome = _run_card(case, folder)
        problems = outcome["problems"]
        if case.expect:
            ok = any(case.expect in p for p in problems) and not outcome["written"]
            return Result("error" if ok else "wrong", "; ".join(problems)[:200] or "accepted")
        return Result("handled" if not problems else "wrong", "; ".join(problems)[:200] or "accepted")

    return run


def _run_card(case: Any, folder: Path) -> dict[str, Any]:
    from anima.errors import ConfigError
    from tests.characters.hostile import ACTIONS

    (folder / "characters").mkdir(exist_ok=True)
    path = folder / case.file
    path.write_bytes(case.make(folder))
    case.extra(folder)
    try:
        problems = ACTIONS[case.action](path)
    except ConfigError as exc:
        problems = exc.problems
    return {"problems": problems, "written": sorted(p.name for p in (folder / "characters").iterdir())}


def _escape(card_yaml: str, expect: str) -> Callable[[Path, Meter], Awaitable[Result]]:
    """A card that names a path outside its folder: refused at load, nothing outside read."""

    async def run(folder: Path, meter: Meter) -> Result:
        from anima.characters.library import CharacterLibrary

        (folder / "characters").mkdir()
        (folder / "outside.json").write_text('{"entries": [{"keys": ["x"], "content": "secret lore"}]}')
        (folder / "characters" / "mira.yaml").write_text(card_yaml)
        meter.start()
        library = CharacterLibrary.load(folder / "characters")
        problems = [p for found in library.problems.values() for p in found]
        ok = any(expect in p for p in problems) and "mira" not in library.cards
        return Result("error" if ok else "wrong", "; ".join(problems)[:200] or "loaded")

    return run


def _card_cases() -> list[Case]:
    from tests.characters.hostile import CASES

    needs = ("numpy", "anima.characters.validate", "anima.characters.install", "anima.characters.library",
             "anima.characters.importer")  # fmt: skip
    cases = [Case("card", c.name, _card(i), quick=i == 0, needs=needs) for i, c in enumerate(CASES)]
    base = "name: Mira\ndescription: d\ngreeting: hi\n"
    escapes = [
        ("lorebooks: ../outside.json", "lorebooks: [../outside.json]\n", "outside"),
        ("lorebooks: /etc/passwd", "lorebooks: [/etc/passwd]\n", ""),
        ("avatar: ../../x.png", "avatar: ../../x.png\n", ""),
        ("piper voice ../../model.onnx", "voice:\n  engine: piper\n  model: ../../model.onnx\n", ""),
    ]
    cases += [
        Case("card path", name, _escape(base + text, expect), needs=needs) for name, text, expect in escapes
    ]
    return cases


# ---------------------------------------------------------------- the command line


def _config(folder: Path, extra: str = "", database_url: str | None = None, llm: str = "") -> Path:
    path = folder / "config.yaml"
    url = database_url or f"sqlite+aiosqlite:///{folder / 'anima.db'}"
    path.write_text(
        f"characters_dir: {REPO / 'characters'}\ndefault_character: aiko\nlog_level: DEBUG\n"
        + (llm or "llm:\n  backends:\n    embedded: {kind: embedded, context_window: 1024, max_tokens: 24}\n")
        + f"memory:\n  database_url: {url}\n  summarize_every: 0\n  llm_facts_every: 0\n"
        + extra
    )
    return path


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Argv = Callable[[Path], list[str]]


def _cli(
    argv: Argv, stdin: bytes = b"", clear: str = "error: ", code: int | None = None, answered: str = ""
) -> Callable[[Path, Meter], Result]:
    """`anima ARGV` in this child, on its main thread: run through `anima.cli.main`, its output read
    back from the files stdout and stderr go to. A clear error is a failing exit (`code`, if given)
    whose last line starts with `clear`; with `answered`, success is exit 0 with it on stdout."""

    def run(folder: Path, meter: Meter) -> Result:
        return _run_cli(argv(folder), stdin, folder, meter, clear, code, answered)

    return run


def _run_cli(
    args: list[str], stdin: bytes, folder: Path, meter: Meter, clear: str, code: int | None, answered: str
) -> Result:
    from anima import cli

    (folder / "stdin").write_bytes(stdin)
    with open(folder / "stdin", "rb") as source:
        os.dup2(source.fileno(), 0)
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    meter.start()
    try:
        status = cli.main(args)
    except SystemExit as exc:  # argparse's usage errors
        status = exc.code if isinstance(exc.code, int) else 2
    sys.stdout.flush()
    sys.stderr.flush()
    out, err = _captured()
    if "Traceback (most recent call last)" in out + err:
        return Result("crash", err[-200:])
    if answered:
        ok = status == 0 and answered in out
        return Result("handled" if ok else "wrong", f"exit {status}: {(err or out).strip()[-200:]}")
    told = [line for line in err.splitlines() if " DEBUG " not in line and " INFO " not in line]
    lines = [line for line in (told or out.splitlines()) if line.strip()] or out.strip().splitlines()
    failed = status != 0 if code is None else status == code
    if failed and lines and lines[-1].startswith(clear) and "error" in lines[-1]:  # usage may come first
        return Result("error", lines[-1][:200])
    if status == 0:
        return Result("wrong", f"exit 0: {out.strip()[-200:]}")
    return Result("silent" if not lines else "wrong", f"exit {status}: {err.strip()[-200:]}")


_OUTPUT: dict[str, Path] = {}


def _captured() -> tuple[str, str]:
    return (
        _OUTPUT["stdout"].read_text(errors="replace") if "stdout" in _OUTPUT else "",
        _OUTPUT["stderr"].read_text(errors="replace") if "stderr" in _OUTPUT else "",
    )


def _with_fake_openai(reply: str, make: Callable[[Path, str], list[str]]) -> Argv:
    """A fake OpenAI-compatible server, started in its own thread (setup, not measured)."""

    def argv(folder: Path) -> list[str]:
        from tests.fakes.openai_server import FakeOpenAI

        fake = FakeOpenAI(reply=reply)
        loop = asyncio.new_event_loop()
        import threading

        threading.Thread(target=loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(fake.start(), loop).result()
        llm = (
            "llm:\n  default: fake\n  backends:\n"
            f"    fake: {{kind: openai, base_url: '{fake.base_url}', api_key: {API_KEY}, max_retries: 0}}\n"
        )
        return make(folder, llm)

    return argv


def _chat(folder: Path, llm: str) -> list[str]:
    return ["--config", str(_config(folder, llm=llm)), "chat", "--user", "lin"]


def _config_check(extra: str) -> Argv:
    return lambda folder: ["--config", str(_config(folder, extra)), "config", "check"]


def _cli_cases() -> list[Case]:
    def cfg(folder: Path) -> str:
        return str(_config(folder))

    def pg(folder: Path) -> str:
        url = f"postgresql+asyncpg://anima:{PASSWORD}@127.0.0.1:{_closed_port()}/anima"
        return str(_config(folder, database_url=url))

    deep = (
        b'{"spec":"chara_card_v2","data":{"name":"x","extensions":{"d":' + b"[" * 5000 + b"]" * 5000 + b"}}}"
    )
    cases = [
        Case("cli args", "an unknown option", _cli(lambda f: ["--bogus"], clear="anima"), quick=True,
             needs=("anima.cli",)),
        Case("cli args", "an unknown command", _cli(lambda f: ["teleport"], clear="anima")),
        Case("cli args", "chat --user with no name", _cli(lambda f: ["chat", "--user"], clear="anima")),
        Case("cli args", "a config file that does not exist",
             _cli(lambda f: ["--config", str(f / "nope.yaml"), "config", "check"])),
        Case("cli args", "card import of a missing file",
             _cli(lambda f: ["--config", cfg(f), "card", "import", str(f / "missing.json")])),
        Case("cli args", "card import --id ../../x",
             _cli(lambda f: ["--config", cfg(f), "card", "import", _write(f, "c.json", b'{"name": "C"}'),
                             "--id", "../../x"])),
        Case("cli args", "card validate of JSON 5,000 levels deep",
             _cli(lambda f: ["--config", cfg(f), "card", "validate", _write(f, "deep.json", deep)],
                  code=1)),
        Case("cli args", "sing a missing score", _cli(lambda f: ["--config", cfg(f), "sing", "aiko", str(f / "x.mid")])),
        Case("cli args", "say into a missing folder",
             _cli(lambda f: ["--config", cfg(f), "say", "aiko", "hi", "-o", str(f / "no" / "x.ogg")])),
        Case("cli args", "memory export into a missing folder",
             _cli(lambda f: ["--config", cfg(f), "memory", "export", "lin", "-o", str(f / "no" / "x.json")])),
        Case("cli args", "memory forget without --platform",
             _cli(lambda f: ["--config", cfg(f), "memory", "forget", "lin"])),
        Case("cli args", "memory copy to mysql://", _cli(
            lambda f: ["--config", cfg(f), "memory", "copy", "--to", f"mysql://anima:{PASSWORD}@h/db"])),
        Case("cli args", "say with an unknown character", _cli(lambda f: ["--config", cfg(f), "say", "nobody", "hi"])),
        Case("cli args", "soul show of an unknown character",
             _cli(lambda f: ["--config", cfg(f), "soul", "show", "nobody"])),
        Case("cli args", "card export of a card id ../../etc",
             _cli(lambda f: ["--config", cfg(f), "card", "export", "../../etc"])),
        Case("config", "a bot bound to an unknown character",
             _cli(_config_check(f"bots:\n  telegram:\n    - token: '{TOKEN}'\n      character: nobody\n")),
             quick=True, needs=("anima.cli", "anima.preflight")),
        Case("config", "a webhook without url",
             _cli(_config_check(f"bots:\n  telegram:\n    - token: '{TOKEN}'\n      webhook: {{port: 8443}}\n"))),
        Case("config", "an embedded backend's missing model_path", _cli(lambda f: [
            "--config", str(_config(f, llm="llm:\n  backends:\n    embedded: {kind: embedded, model_path: "
                                   f"{f}/none.gguf}}\n")), "config", "check"])),
        Case("config", "an unsupported database URL",
             _cli(lambda f: ["--config", str(_config(f, database_url=f"mysql://a:{PASSWORD}@h/d")), "config", "check"])),
        Case("config", "a malformed ${VAR", _cli(_config_check("ops:\n  log_format: ${ANIMA_FORMAT\n"))),
        Case("config", "a duplicate key", _cli(_config_check("default_character: grimble\n"))),
        Case("config", "a YAML alias bomb", _cli(_config_check(
            "x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            + "".join(f"x{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 9)}]\n" for i in range(8))))),
        Case("config", "a tab in the indentation", _cli(_config_check("bots:\n\ttelegram: []\n"))),
        Case("secrets", "unreachable PostgreSQL with a password: memory export",
             _cli(lambda f: ["--config", pg(f), "memory", "export", "lin"]), quick=True),
        Case("secrets", "unreachable PostgreSQL with a password: chat", _cli(lambda f: ["--config", pg(f), "chat"])),
        Case("secrets", "unreachable PostgreSQL with a password: forget",
             _cli(lambda f: ["--config", pg(f), "memory", "forget", "lin", "--all-platforms"])),
        Case("secrets", "a password in memory copy --to", _cli(lambda f: [
            "--config", cfg(f), "memory", "copy", "--to",
            f"postgresql+asyncpg://anima:{PASSWORD}@127.0.0.1:{_closed_port()}/copy"])),
        Case("secrets", "a rejected Telegram token on start", _cli(_fake_platform("telegram"))),
        Case("secrets", "a rejected Discord token on start", _cli(_fake_platform("discord"))),
        Case("stdin", "an invalid UTF-8 byte to chat",
             _cli(_with_fake_openai("Got it.", _chat), stdin=b"caf\xe9 au lait\n\xff\xfe\n", answered="Got it.")),
        Case("stdin", "1 MB without spaces to chat",
             _cli(_with_fake_openai("Got it.", _chat), stdin=b"a@b" * 340_000 + b"\n", answered="Got it.")),
        Case("stdin", "14 piped lines to chat", _cli(_with_fake_openai("Got it.", _chat),
                                                     stdin=b"".join(b"line %d\n" % i for i in range(14)),
                                                     answered="Got it.")),
        Case("stdin", "NUL bytes and escapes to chat", _cli(_with_fake_openai("Got it.", _chat),
                                                            stdin=b"\x00\x1b[2J\x1b]0;pwned\x07hi\n",
                                                            answered="Got it.")),
    ]  # fmt: skip
    return cases


def _write(folder: Path, name: str, data: bytes) -> str:
    (folder / name).write_bytes(data)
    return str(folder / name)


def _fake_platform(platform: str) -> Argv:
    def argv(folder: Path) -> list[str]:
        import threading

        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        if platform == "telegram":
            from tests.fakes.telegram_server import FakeTelegram

            fake = FakeTelegram()
            asyncio.run_coroutine_threadsafe(fake.__aenter__(), loop).result()
            bots = (
                f"bots:\n  telegram:\n    - token: '{TOKEN}'\n      base_url: {fake.base_url}\n"
                f"      base_file_url: {fake.base_file_url}\n"
            )
        else:
            from tests.fakes.discord_server import FakeDiscord

            discord = asyncio.run_coroutine_threadsafe(FakeDiscord(token="right").start(), loop).result()
            bots = f"bots:\n  discord:\n    - token: '{DISCORD_TOKEN}'\n      api_base: {discord.api_base}\n"
        return ["--config", str(_config(folder, bots)), "run"]

    return argv


# ---------------------------------------------------------------- a runtime: streams, buttons, forget


async def _runtime(folder: Path, llm: Any) -> Any:
    from anima.app import Runtime
    from anima.config import MemorySettings, Settings

    settings = Settings(
        characters_dir=REPO / "characters",
        default_character="aiko",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{folder}/anima.db"),
    )
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", llm)
    return runtime


def _StreamedSurface() -> Any:
    from contextlib import asynccontextmanager

    from tests.fakes.surface import FakeSurface

    @dataclass
    class Streamed(FakeSurface):
        """Keeps every stream it gave: each piece is what a platform would have sent or edited."""

        streams: list[Any] = field(default_factory=list)

        @asynccontextmanager
        async def replying(self, resumed: bool = False) -> Any:
            async with super().replying(resumed) as stream:
                self.streams.append(stream)
                yield stream

    return Streamed()


def _leak(kind: str, chunk: int) -> Callable[[Path, Meter], Awaitable[Result]]:
    """A model streaming `chunk`-character deltas (0: one delta) that carry a leak: no piece shown
    in the chat (what a platform would send or edit) may hold it."""

    async def run(folder: Path, meter: Meter) -> Result:
        from anima.core.messages import Incoming
        from tests.safety.test_streaming import FILLER, LEAKS, ChunkyLLM

        llm = ChunkyLLM(chunk)
        make, secret_of = LEAKS[kind]
        llm.reply = lambda request: FILLER + make(request) + " " + FILLER
        runtime = await _runtime(folder, llm)
        surface = _StreamedSurface()
        meter.start()
        await runtime.conversations.handle(
            Incoming("test", "chat", "lin", "Lin", "tell me about it"), surface
        )
        secret = secret_of(llm.requests[0]).lower()
        await runtime.close()
        shown = [*surface.texts(), *(p for s in surface.streams for p in s.pieces)]
        if not surface.replies:
            return Result("silent", "no reply")
        if any(secret in piece.lower() for piece in shown):
            return Result("wrong", f"a piece shown carried the {kind}")
        return Result("handled", surface.replies[-1].text[:80])

    return run


def _command(line: str, admin: bool = False) -> Callable[[Path, Meter], Awaitable[Result]]:
    """A command line as a button press or a typed command would run it (forged data included)."""

    async def run(folder: Path, meter: Meter) -> Result:
        from anima.commands import parse
        from anima.commands.context import Context
        from tests.fakes.llm import InstantLLM
        from tests.fakes.surface import FakeSurface

        runtime = await _runtime(folder, InstantLLM())
        surface = FakeSurface(bot_admin=admin)
        meter.start()
        parsed = parse(line)
        if parsed is None:
            await runtime.close()
            return Result("wrong", "not a command")
        name, args = parsed
        card = runtime.characters.get("aiko")
        await runtime.commands.run(name, Context(runtime.commands, surface, card, args, (), default="aiko"))
        await runtime.close()
        shown = " / ".join(surface.texts())
        return Result("error" if shown else "silent", shown[:200])

    return run


def _forged_button(data: str) -> Callable[[Path, Meter], Awaitable[Result]]:
    """A Telegram button press whose data the bot never sent (made up, or an old button's): the
    real PTB client against the fake Bot API; the person must get an answer, and the bot go on."""

    async def run(folder: Path, meter: Meter) -> Result:
        from anima.bots.telegram import TelegramAdapter
        from tests.bots.test_telegram import bot_settings
        from tests.fakes.llm import InstantLLM
        from tests.fakes.telegram_server import FakeTelegram, person, private_chat

        alice = person(101, "Alice")
        runtime = await _runtime(folder, InstantLLM())
        async with FakeTelegram() as tg:
            fake = tg.add_bot("aiko_bot", "Aiko")
            adapter = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
            await adapter.start()
            try:
                fake.send_text(private_chat(alice), alice, "hello")  # a message of the bot's to press under
                await fake.wait_for_replies(alice["id"], 1, within_s=60)
                sent = fake.replies(alice["id"])[-1]
                message = {
                    "message_id": sent.message_id,
                    "date": 0,
                    "chat": private_chat(alice),
                    "text": sent.text,
                }
                meter.start()
                query = {"id": "q1", "from": alice, "message": message, "chat_instance": "1", "data": data}
                fake.inject({"callback_query": query})
                await fake.wait_for(lambda: len(fake.calls_to("answerCallbackQuery")) == 1, within_s=60)
                answer = fake.calls_to("answerCallbackQuery")[0].params.get("text", "")
                fake.send_text(private_chat(alice), alice, "still there?")
                still = (await fake.wait_for_replies(alice["id"], 2, within_s=60))[-1].text
            finally:
                await adapter.stop()
        await runtime.close()
        return Result("error" if answer and still else "silent", f"{answer} / then: {still[:40]}")

    return run


async def _racing_forget(folder: Path, meter: Meter) -> Result:
    """Forget while six messages of the person are being answered (under flood control's limit,
    which would drop the rest by design): each is answered, and nothing of theirs is left."""
    from anima.core.messages import Incoming
    from tests.fakes.llm import InstantLLM
    from tests.fakes.surface import FakeSurface

    runtime = await _runtime(folder, InstantLLM(delay_s=0.001))
    word = "Zanzibarcanary"
    meter.start()
    surfaces = [FakeSurface() for _ in range(6)]
    messages = [
        runtime.conversations.handle(Incoming("test", "chat", "lin", "Lin", f"{word} {i}"), surface)
        for i, surface in enumerate(surfaces)
    ]
    forget = runtime.memory.forget_user("test", "lin")
    await asyncio.gather(*messages[:3], forget, *messages[3:])
    # lines that queued up behind a turn are answered together, in one reply (the echo shows each)
    shown = "\n".join(text for surface in surfaces for text in surface.texts())
    if any(f"{word} {i}" not in shown for i in range(6)):
        await runtime.close()
        return Result("silent", "a message went unanswered")
    await runtime.pipeline.keeper.drain()
    again = await runtime.memory.forget_user("test", "lin")  # what arrived after the first forget
    left = await runtime.memory.export_user("test", "lin")
    await runtime.close()
    if left is not None or again < 0:
        return Result("wrong", "something of the person is left")
    return Result("handled", f"{again} messages after the forget, forgotten again")


def _runtime_cases() -> list[Case]:
    cases = [
        Case("streamed leak", f"{kind}, {'one delta' if chunk == 0 else f'{chunk}-character deltas'}",
             _leak(kind, chunk), quick=(kind, chunk) == ("canary", 0))
        for kind in ("canary", "spaced canary", "email", "system prompt", "threat")
        for chunk in (0, 2000)
    ]  # fmt: skip
    buttons = ["forget:abc", "sing:" + "x" * 60, "\x00\x01", "/soul approve 1", "💥" * 16, ""]
    cases += [Case("forged button", repr(data[:30]), _forged_button(data)) for data in buttons]
    forged = ["/forget abc", "/soul approve 99999999999999999999", "/soul reject -1",
              "/sing tempo=abc | C4 | la", "/persona " + "x" * 100_000, "/character ../../etc/passwd",
              "/voice maybe", "/memory " + "%s" * 1000, "/safety strict\x00"]  # fmt: skip
    cases += [Case("command", repr(line[:40]), _command(line, admin="soul" in line)) for line in forged]
    cases.append(Case("forget", "forget racing six messages", _racing_forget))
    return cases


def cases() -> list[Case]:
    return [*_score_cases(), *_speech_cases(), *_card_cases(), *_cli_cases(), *_runtime_cases()]


# ---------------------------------------------------------------- the child and the parent


def _child(name: str, folder: str) -> None:
    out = Path(folder)
    case = next(c for c in cases() if f"{c.klass}: {c.name}" == name)
    for stream, fd in (("stdout", 1), ("stderr", 2)):  # everything the case prints, logging included
        _OUTPUT[stream] = out / f"{stream}.txt"
        handle = open(_OUTPUT[stream], "wb")
        os.dup2(handle.fileno(), fd)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False, buffering=1)
    work = out / "work"
    work.mkdir()
    for module in case.needs:
        __import__(module)
    meter = Meter()
    try:
        ran = case.run(work, meter)
        result = ran if isinstance(ran, Result) else asyncio.run(ran)  # type: ignore[arg-type]
    except Exception as exc:  # a traceback a person would have met
        import traceback

        traceback.print_exc()
        result = Result("crash", f"{type(exc).__name__}: {exc}"[:200])
    cpu, rss = meter.cost()
    (out / "result.json").write_text(json.dumps({"verdict": result.verdict, "shown": result.shown,
                                                  "cpu_s": cpu, "rss_mb": rss}))  # fmt: skip
    os._exit(0)


@dataclass
class Outcome:
    case: Case
    verdict: str
    shown: str
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    secret: bool = False
    traceback: bool = False
    wall_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.verdict in ("error", "handled") and not self.problems

    @property
    def untimed_problems(self) -> list[str]:
        """What is wrong besides the CPU it took (tests never assert on time; the bench reports it)."""
        wrong = [p for p in self.problems if not p.endswith("of CPU")]
        return wrong if self.verdict in ("error", "handled") else [self.verdict, *wrong]


def replay(case: Case) -> Outcome:
    """Run one case in a fresh child process and judge what came back."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("ANIMA_DEBUG", None)
        started = time.monotonic()
        try:
            subprocess.run(
                [sys.executable, "-m", "bench.hostile_bench", "--child", f"{case.klass}: {case.name}", folder],
                cwd=REPO, env=env, timeout=CHILD_TIMEOUT_S, preexec_fn=limit_memory,
                stdin=subprocess.DEVNULL, capture_output=True,
            )  # fmt: skip
            wall = time.monotonic() - started
        except subprocess.TimeoutExpired:
            return Outcome(case, "unanswered", f"no answer after {CHILD_TIMEOUT_S:.0f} s", wall_s=CHILD_TIMEOUT_S,
                           problems=["unanswered"])  # fmt: skip
        base = Path(folder)
        printed = "".join(
            (base / n).read_text(errors="replace")
            for n in ("stdout.txt", "stderr.txt")
            if (base / n).exists()
        )
        result_file = base / "result.json"
        if not result_file.exists():
            return Outcome(case, "crash", printed[-200:], wall_s=wall, problems=["the child died"])
        result = json.loads(result_file.read_text())
    outcome = Outcome(
        case, result["verdict"], result["shown"], result["cpu_s"], result["rss_mb"], wall_s=wall
    )
    outcome.secret = any(secret in printed + result["shown"] for secret in SECRETS)
    outcome.traceback = "Traceback (most recent call last)" in printed
    if outcome.secret:
        outcome.problems.append("a secret was printed")
    if outcome.traceback and outcome.verdict != "crash":
        outcome.problems.append("a traceback was printed")
    if outcome.cpu_s > MAX_CPU_S:
        outcome.problems.append(f"{outcome.cpu_s:.1f} s of CPU")
    if outcome.rss_mb > MAX_RSS_MB:
        outcome.problems.append(f"{outcome.rss_mb:.0f} MB of RSS")
    return outcome


def main(quick: bool = False) -> list[Outcome]:
    from bench.report import record

    chosen = [c for c in cases() if c.quick or not quick]
    print(f"`{COMMAND}{' --quick' if quick else ''}`: {len(chosen)} hostile inputs, one child process each\n")
    print("| class | input | answer | CPU s | peak RSS MB | problem |")
    print("|---|---|---|---|---|---|")
    outcomes = []
    for case in chosen:
        outcome = replay(case)
        outcomes.append(outcome)
        shown = " ".join(outcome.shown.split())[:70].replace("|", "/")
        problem = ", ".join(outcome.problems) or ("" if outcome.passed else outcome.verdict)
        print(f"| {case.klass} | {case.name} | {outcome.verdict}: {shown} | {outcome.cpu_s:.2f} "
              f"| {outcome.rss_mb:.0f} | {problem} |", flush=True)  # fmt: skip
    passed = sum(o.passed for o in outcomes)
    share = 100 * passed / len(outcomes)
    worst_cpu = max(o.cpu_s for o in outcomes)
    worst_rss = max(o.rss_mb for o in outcomes)
    tracebacks = sum(o.traceback or o.verdict == "crash" for o in outcomes)
    unanswered = sum(o.verdict in ("unanswered", "silent") for o in outcomes)
    secrets = sum(o.secret for o in outcomes)
    print(f"\n{passed} of {len(outcomes)} ({share:.0f}%) got a clear error or the right handling; "
          f"tracebacks {tracebacks}, unanswered {unanswered}, secrets printed {secrets}; "
          f"worst CPU {worst_cpu:.2f} s, worst peak RSS {worst_rss:.0f} MB")  # fmt: skip
    if not quick:
        record("hostile replay: clear error or right handling", round(share, 1), "%", COMMAND)
        record("hostile replay: tracebacks", tracebacks, "inputs", COMMAND)
        record("hostile replay: unanswered", unanswered, "inputs", COMMAND)
        record("hostile replay: secrets printed", secrets, "inputs", COMMAND)
        record("hostile replay: worst CPU per input", round(worst_cpu, 2), "s", COMMAND)
        record("hostile replay: worst peak RSS per input", round(worst_rss), "MB", COMMAND)
    return outcomes


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3])
    with contextlib.suppress(BrokenPipeError):
        main(quick="--quick" in sys.argv)
