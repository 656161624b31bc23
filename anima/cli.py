"""The `anima` command: chat, run, characters, card, config check."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from anima.errors import AnimaError, ConfigError

if TYPE_CHECKING:
    from anima.config import Settings

    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]  # what add_subparsers returns


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anima", description="AI characters with a soul.")
    parser.add_argument(
        "--config", metavar="PATH", help="config file (default: $ANIMA_CONFIG or ./config.yaml)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    chat = commands.add_parser("chat", help="talk to a character in the terminal")
    chat.add_argument("character", nargs="?", help="card id or name (default: default_character)")
    chat.add_argument("--user", help="who you are (default: your login name)")

    commands.add_parser("run", help="serve every bot in the config (Telegram, Discord) until stopped")
    studio = commands.add_parser("studio", help="the web page to write, test and govern characters")
    studio.add_argument("--port", type=int, help="port (default studio.port, else 8765)")
    commands.add_parser("characters", help="list the cards and whether each is valid")
    _voice_parsers(commands)

    config_commands = _group(commands, "config", "configuration tools")
    config_commands.add_parser("check", help="validate config.yaml and every card without starting anything")
    _card_parser(commands)
    _memory_parser(commands)
    _safety_parsers(commands)
    _soul_parser(commands)
    return parser


def _group(commands: Subcommands, name: str, text: str) -> Subcommands:
    """A command whose next word names one of its own (`anima soul diff`), found in `<name>_command`."""
    return commands.add_parser(name, help=text).add_subparsers(dest=f"{name}_command", required=True)


def _voice_parsers(commands: Subcommands) -> None:
    """Voice notes a character makes (say, sing) and recordings read (hear, melody)."""
    notes = {
        "say": ("write what a character says as a voice note (OGG/Opus)", "CHARACTER.ogg"),
        "sing": ("a character sings a score (MIDI, MusicXML or /sing notation)", "CHARACTER-song.ogg"),
    }
    made = {}
    for name, (text, default) in notes.items():
        made[name] = commands.add_parser(name, help=text)
        made[name].add_argument("character", help="card id or name")
        made[name].add_argument(
            "-o", "--output", metavar="FILE", help=f"where to write it (default: ./{default})"
        )
    made["say"].add_argument("text", help="what to say ('-' reads standard input)")
    sing = made["sing"]
    sing.add_argument("score", help="a .mid/.musicxml/.mxl file, or notation such as '| C4 D4 E4 | la la la'")
    sing.add_argument("--about", metavar="TOPIC", help="have the character write lyrics about TOPIC first")
    sing.add_argument(
        "--transpose", type=int, default=0, metavar="SEMITONES", help="e.g. -12: an octave down"
    )
    sing.add_argument(
        "--backing", action="store_true", help="add a backing track (chords, or the MIDI's parts)"
    )
    sing.add_argument("--lyrics", help="with a hummed recording as SCORE: the words to sing on its tune")
    hear = commands.add_parser("hear", help="print what is said in a recording (speech to text)")
    hear.add_argument("file", help="a voice message or audio file (OGG/Opus, MP3, WAV, FLAC, M4A…)")
    hear.add_argument("--language", help="the language spoken, e.g. en or zh (default: detect)")
    hear.add_argument("-v", "--verbose", action="store_true", help="also print the engine, language and time")
    melody = commands.add_parser("melody", help="print the notation of a tune hummed in a recording")
    melody.add_argument("file", help="a voice message or audio file with a hummed or sung tune")


def _soul_parser(commands: Subcommands) -> None:
    sub = _group(commands, "soul", "what characters learned from conversations: review, roll back")
    show = sub.add_parser("show", help="a character's learned layer")
    show.add_argument("character", help="card id or name")
    show.add_argument("--version", type=int, help="an earlier soul version (default: the current one)")
    sub.add_parser("diff", help="pending changes with the messages behind them").add_argument("character")
    for name, text in (("approve", "apply pending changes"), ("reject", "turn pending changes down")):
        decide = sub.add_parser(name, help=text)
        decide.add_argument("ids", nargs="+", type=int, metavar="ID", help="proposal numbers (from diff)")
        if name == "reject":
            decide.add_argument("--reason", help="why, for the history")
    sub.add_parser("history", help="every soul version and who approved it").add_argument("character")
    rollback = sub.add_parser("rollback", help="a new version with exactly an earlier version's lines")
    rollback.add_argument("character")
    rollback.add_argument("version", type=int, help="the version to restore (0: the card alone)")
    export = sub.add_parser("export", help="a card with the shared learned lines merged in, for sharing")
    export.add_argument("character")
    export.add_argument("--format", choices=["yaml", "v2", "v3"], default="yaml")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")


def _safety_parsers(commands: Subcommands) -> None:
    safety_commands = _group(commands, "safety", "the safety checks' audit")
    report = safety_commands.add_parser("report", help="count the safety decisions other than allow")
    report.add_argument("--since", metavar="WHEN", help="24h, 7d, 2w, or a date such as 2026-11-01 (UTC)")
    safety_commands.add_parser(
        "train", help="retrain the learned guard on the train splits (needs ../shared/benchmarks/safety)"
    )
    bench = commands.add_parser(
        "bench", help="measure memory recall or the safety checks (the rest: `python -m bench` in a checkout)"
    )
    benches = bench.add_subparsers(dest="bench", required=True)
    memory = benches.add_parser("memory", help="LoCoMo evidence recall and recall latency at scale")
    memory.add_argument("--locomo", metavar="PATH", type=Path, help="the LoCoMo conversations (*.json)")
    memory.add_argument("--database", metavar="URL", help="a PostgreSQL URL (default: a temporary SQLite)")
    memory.add_argument(
        "--full",
        action="store_true",
        help="the 1,000,000-message scale run (built once in ~6 minutes, then reused)",
    )
    memory.add_argument("--minilm", action="store_true", help="LoCoMo with full MiniLM too (slow)")
    safety = benches.add_parser("safety", help="the safety checks' precision, recall and cost")
    cases = "the labelled cases (default: tests/data)"
    safety.add_argument("--cases", metavar="DIR", type=Path, default=Path("tests/data"), help=cases)


def _memory_parser(commands: Subcommands) -> None:
    memory_commands = _group(commands, "memory", "what characters keep about a user: export, forget")
    for name, text in (("export", "write it all as JSON"), ("forget", "delete it all")):
        command = memory_commands.add_parser(name, help=text)
        command.add_argument("user", help="the user's id on its platform (the terminal: your user name)")
        if name == "export":
            command.add_argument("--platform", help="telegram, discord or terminal (default: every platform)")
            command.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
        else:
            where = command.add_mutually_exclusive_group()
            where.add_argument("--platform", help="telegram, discord or terminal")
            where.add_argument(
                "--all-platforms", action="store_true", help="the id on every platform it is stored under"
            )
    share = memory_commands.add_parser(
        "share", help="let what was learned with a person in private reach their groups (or not)"
    )
    share.add_argument("user", help="the user's id on its platform")
    share.add_argument("--platform", required=True, help="telegram, discord or terminal")
    share.add_argument("state", choices=["on", "off"])
    copy = memory_commands.add_parser("copy", help="copy the whole memory database into an empty one")
    copy.add_argument(
        "--to", required=True, metavar="URL", help="e.g. postgresql+asyncpg://anima@localhost/anima"
    )


def _card_parser(commands: Subcommands) -> None:
    card_commands = _group(commands, "card", "character card tools: new, validate, import, export")
    new = card_commands.add_parser("new", help="write a commented template for a new card")
    new.add_argument("name", help="the character's name; the file name (its id) is made from it")
    new.add_argument("--dir", type=Path, help="where to write it (default: characters_dir)")
    validate = card_commands.add_parser("validate", help="every problem with file:line (exit 1 on errors)")
    validate.add_argument("paths", nargs="*", type=Path, help="cards or folders (default: characters_dir)")
    validate.add_argument("--json", action="store_true", help="machine-readable output, for editors")
    imports = card_commands.add_parser("import", help="import Character Card V1/V2/V3 JSON or PNG (or YAML)")
    imports.add_argument("files", nargs="+", type=Path)
    imports.add_argument("--out", type=Path, help="the characters folder (default: characters_dir)")
    imports.add_argument("--id", help="the id (file name) to give the card instead of one from its name")
    imports.add_argument("--replace", action="store_true", help="overwrite a card with the same id")
    export = card_commands.add_parser("export", help="export a card as Character Card V2/V3 JSON or PNG")
    export.add_argument("id", help="card id or name")
    export.add_argument("--format", choices=["v2", "v3", "png"], default="v2")
    export.add_argument("--out", type=Path, help="file or folder to write (default: ./ID.v2.json, ./ID.png…)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr, with every secret redacted."""
    args = _parser().parse_args(argv)
    if isinstance(sys.stdin, io.TextIOWrapper):  # an undecodable byte is read as U+FFFD, never an error
        sys.stdin.reconfigure(errors="replace")
    from anima.ops.logs import Redactor

    redact = Redactor()
    try:
        from anima.config import load_settings

        settings = load_settings(args.config)
        redact = Redactor.for_settings(settings)
        return asyncio.run(_dispatch(settings, args))
    except ConfigError as exc:
        print("\n".join(f"error: {redact(p)}" for p in exc.problems), file=sys.stderr)
        return 2
    except AnimaError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # `anima … | head`: the reader left; the rest of the output has nowhere to go
        _silence_stdout()
        return 141
    except OSError as exc:  # a missing file or folder, a full disk, no permission: named, in one line
        print(f"error: {redact(_os_problem(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line (ANIMA_DEBUG=1 shows where), never a secret
        if os.environ.get("ANIMA_DEBUG"):
            raise
        what = redact(" ".join(str(exc).split())[:300])
        print(
            f"error: {type(exc).__name__}: {what} (unexpected: ANIMA_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


def _os_problem(exc: OSError) -> str:
    where = f"{exc.filename}" if exc.filename is not None else ""
    what = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, FileNotFoundError) and where:
        return f"{where}: no such file or directory (check the path; folders are not created)"
    return f"{where}: {what}" if where else what


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not raise BrokenPipeError again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


async def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    from anima.ops.logs import setup_logging

    # one line per event (ops.log_format: text or json), secrets redacted; `run` says what it does
    setup_logging(settings, default_level="INFO" if args.command == "run" else "WARNING")
    if args.command == "characters":
        return _list_characters(settings)
    if args.command == "config":
        return _check_config(settings)
    if args.command == "run":
        return await _run(settings)
    if args.command == "studio":
        return await _studio(settings, args.port)
    if args.command == "card":
        return _card(settings, args)
    if args.command == "say":
        return await _say(settings, args)
    if args.command in ("hear", "melody") or (args.command == "sing" and _is_recording(args.score)):
        from anima.hearing import command as hearing

        run = {"hear": hearing.hear, "melody": hearing.melody, "sing": hearing.sing_hum}[args.command]
        return await run(settings, args)
    if args.command == "sing":
        from anima.commands.singing.to_file import sing_to_file

        return await sing_to_file(settings, args)
    if args.command == "memory":
        from anima.memory import commands as memory

        if args.memory_command == "export":
            return await memory.export(settings.database_url, args.user, args.platform, args.output)
        if args.memory_command == "copy":
            from anima.memory.copy import copy_database
            from anima.memory.database import shown_url

            copied = await copy_database(settings.database_url, args.to)
            target = shown_url(args.to)
            print(f"copied {sum(copied.values())} rows into {target}: point memory.database_url at it")
            return 0
        if args.memory_command == "share":
            return await memory.share(settings.database_url, args.user, args.platform, args.state == "on")
        if args.platform is None and not args.all_platforms:
            raise AnimaError(
                f"which {args.user!r}? the same id may be different people on different platforms: "
                "add --platform telegram|discord|terminal, or --all-platforms"
            )
        return await memory.forget(settings.database_url, args.user, args.platform)
    if args.command == "soul":
        from anima.soul.commands import run as soul

        return await soul(settings, args)
    if args.command == "safety" and args.safety_command == "train":
        from anima.safety.train import train

        result = await asyncio.to_thread(train)
        print(f"wrote the learned guard: {result}")
        return 0
    if args.command == "safety":
        from anima.safety.report import parse_since, report

        print(await report(settings.database_url, parse_since(args.since)))
        return 0
    if args.command == "bench":
        return await _bench(settings, args)
    return await _chat(settings, args.character, args.user)


def _is_recording(name: str) -> bool:
    from anima.hearing.command import is_audio_file

    return is_audio_file(name)


def _card(settings: Settings, args: argparse.Namespace) -> int:
    from anima.characters import commands

    characters = settings.resolve(settings.characters_dir)
    if args.card_command == "new":
        return commands.new_card(args.name, args.dir or characters)
    if args.card_command == "validate":
        return commands.validate_cards(args.paths or [characters], args.json)
    if args.card_command == "import":
        return commands.import_cards(
            args.files, args.out or characters, args.replace, args.id, llm=settings.llm
        )
    return commands.export_one(args.id, args.format, characters, args.out)


def _list_characters(settings: Settings) -> int:
    from anima.characters.library import CharacterLibrary

    library = CharacterLibrary.load(settings.resolve(settings.characters_dir))
    for card_id, card in sorted(library.cards.items()):
        default = " (default)" if card_id == settings.default_character else ""
        print(f"ok       {card_id:<12} {card.name}{default} — {', '.join(card.tags)}")
    for card_id, problems in sorted(library.problems.items()):
        print(f"invalid  {card_id:<12}")
        for problem in problems:
            print(f"         {problem}")
    return 1 if library.problems else 0


def _check_config(settings: Settings) -> int:
    """Every check a start runs (anima.preflight), without opening the database or loading a model."""
    from anima.preflight import check_start

    library = check_start(settings)
    where = settings.source or "built-in defaults"
    print(f"ok: {where}: {len(library.cards)} characters, backends: {', '.join(settings.llm.backends)}")
    return 0


async def _say(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from anima.characters.library import CharacterLibrary
    from anima.voice import VoiceService
    from anima.voice.text import raw_limit

    card = CharacterLibrary.load(settings.resolve(settings.characters_dir)).get(args.character)
    out = Path(args.output or f"{card.id}.ogg")
    if not out.parent.is_dir():  # before the speech is made, not after
        raise AnimaError(f"{out}: the folder {out.parent} does not exist")
    # Past what can be spoken nothing is read (`anima say - < huge.txt` stays bounded); bad bytes become �.
    limit = raw_limit(settings.voice.max_chars)
    text = sys.stdin.buffer.read(limit).decode("utf-8", "replace") if args.text == "-" else args.text
    voice = VoiceService(settings.voice, settings.resolve)
    try:
        note = await voice.speak(card, text)
    finally:
        await voice.close()
    await asyncio.to_thread(out.write_bytes, note.ogg)
    engine = voice.choice_for(card).engine
    print(f"{out}: {note.duration_s:.1f} s of {card.name} ({engine}), {len(note.ogg) / 1024:.0f} KiB")
    return 0


async def _bench(settings: Settings, args: argparse.Namespace) -> int:
    """The evaluations that ship in the package; bench/ (python -m bench) has the rest."""
    if args.bench == "safety":
        from anima.safety import benchmark
        from anima.safety.evaluation import run_bench

        await benchmark.run_bench(settings.resolve(settings.characters_dir))
        print("\n--- regression set (our own labelled cases) ---\n")
        await run_bench(args.cases, settings.resolve(settings.characters_dir))
        return 0
    from anima.memory import locomo, scale

    if args.locomo is None:
        print("(LoCoMo not measured: pass --locomo PATH, the conversations' *.json)\n")
    else:
        await locomo.run_bench(args.locomo, args.database, minilm=args.minilm)
        print()
    await scale.run_bench(args.database, args.full)
    return 0


async def _chat(settings: Settings, character: str | None, user: str | None) -> int:
    from anima.app import Runtime
    from anima.bots.console import ConsoleChat

    runtime = await Runtime.start(settings, progress=_progress)
    try:
        name = user or getpass.getuser() or "you"
        chat = ConsoleChat(runtime, character or settings.default_character, name)
        await chat.run(interactive=sys.stdin.isatty())
    finally:
        await runtime.close()
    return 0


async def _run(settings: Settings) -> int:
    from anima.app import Runtime
    from anima.bots.service import serve

    runtime = await Runtime.start(settings, progress=logging.getLogger("anima").info)
    try:
        await serve(runtime)
    finally:
        await runtime.close()
    return 0


async def _studio(settings: Settings, port: int | None) -> int:
    """Serve the studio (and nothing else) until Ctrl-C."""
    from anima.app import Runtime
    from anima.bots.service import StopSignals
    from anima.bots.studio.server import DEFAULT_PORT, serve_studio

    runtime = await Runtime.start(settings, progress=_progress)
    signals = StopSignals()
    signals.install()
    try:
        chosen = port if port is not None else settings.studio.port
        token = os.environ.get("ANIMA_STUDIO_TOKEN") or None
        await serve_studio(
            runtime, settings.studio.host, DEFAULT_PORT if chosen is None else chosen, token, signals.first
        )
    finally:
        await runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
