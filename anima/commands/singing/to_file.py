"""`anima sing CHARACTER SCORE -o song.ogg`: a score file or notation, sung into an OGG/Opus file."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from anima.characters.library import CharacterLibrary
from anima.commands.singing.request import score_for
from anima.config import Settings
from anima.llm.router import LLMRouter
from anima.voice import VoiceService
from anima.voice.sing.files import MAX_FILE_BYTES, is_score_file
from anima.voice.sing.score import ScoreError
from anima.voice.sing.singer import Busy, Singer


async def sing_to_file(settings: Settings, args: argparse.Namespace) -> int:
    card = CharacterLibrary.load(settings.resolve(settings.characters_dir)).get(args.character)
    file = None
    text = args.score
    if is_score_file(args.score) or await asyncio.to_thread(_names_a_file, args.score):
        file = await asyncio.to_thread(_read_score_file, Path(args.score))
        text = ""
    router = LLMRouter(settings.llm)
    voice = VoiceService(settings.voice, settings.resolve)
    singer = Singer(voice)
    try:
        song = await score_for(text, card, router, file, args.about, args.transpose, args.backing)
        score = song.score
        started = time.perf_counter()
        note = await singer.sing(card, score, backing=song.backing)
        took = time.perf_counter() - started
    finally:
        singer.close()
        await voice.close()
        await router.close()
    if isinstance(note, Busy):  # a fresh singer has an empty queue; typed for completeness
        raise ScoreError("the singer is busy; try again in a moment")
    out = Path(args.output or f"{card.id}-song.ogg")
    await asyncio.to_thread(out.write_bytes, note.ogg)
    print(
        f"{out}: {note.duration_s:.1f} s sung by {card.name}, {len(score.sung())} syllables on "
        f"{len(score.sung_notes)} notes, rendered in {took:.1f} s"
    )
    return 0


def _names_a_file(score: str) -> bool:
    """Notation has bar lines and may be long; a path has neither (a path too long to exist is notation)."""
    if "|" in score or "\n" in score or len(score) > 1024:
        return False
    try:
        return Path(score).is_file()
    except OSError:
        return False


def _read_score_file(path: Path) -> tuple[bytes, str]:
    """The file's bytes, its size checked before it is read (a missing file is the CLI's OSError line)."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ScoreError(f"{path.name} is {size:,} bytes; a score file may have at most {MAX_FILE_BYTES:,}")
    return path.read_bytes(), path.name
