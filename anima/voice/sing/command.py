"""`anima sing CHARACTER SCORE -o song.ogg`: a score file or notation, sung into an OGG/Opus file."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from anima.characters.library import CharacterLibrary
from anima.config import Settings
from anima.llm.router import LLMRouter
from anima.voice import VoiceService
from anima.voice.sing.files import is_score_file
from anima.voice.sing.request import score_for
from anima.voice.sing.singer import Singer


async def sing_to_file(settings: Settings, args: argparse.Namespace) -> int:
    card = CharacterLibrary.load(settings.resolve(settings.characters_dir)).get(args.character)
    source = Path(args.score)
    file = None
    text = args.score
    if is_score_file(args.score) or await asyncio.to_thread(source.is_file):
        file = (await asyncio.to_thread(source.read_bytes), source.name)
        text = ""
    router = LLMRouter(settings.llm)
    voice = VoiceService(settings.voice, settings.resolve)
    try:
        song = await score_for(text, card, router, file, args.about, args.transpose, args.backing)
        score = song.score
        started = time.perf_counter()
        note = await Singer(voice).sing(card, score, backing=song.backing)
        took = time.perf_counter() - started
    finally:
        await voice.close()
        await router.close()
    out = Path(args.output or f"{card.id}-song.ogg")
    await asyncio.to_thread(out.write_bytes, note.ogg)
    print(
        f"{out}: {note.duration_s:.1f} s sung by {card.name}, {len(score.sung())} syllables on "
        f"{len(score.sung_notes)} notes, rendered in {took:.1f} s"
    )
    return 0
