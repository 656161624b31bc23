"""`anima hear FILE`, `anima melody FILE` and `anima sing CHARACTER FILE.ogg --lyrics "…"`."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path, PurePath

from anima.config import Settings
from anima.hearing.service import HearingService
from anima.hearing.song import describe, fit_lyrics, notation

# What `anima sing` takes for a hummed recording rather than a score
AUDIO_SUFFIXES = (".ogg", ".oga", ".opus", ".mp3", ".wav", ".flac", ".m4a", ".aac", ".mp4", ".webm")


def is_audio_file(name: str) -> bool:
    return PurePath(name).suffix.lower() in AUDIO_SUFFIXES


async def _read(path: str, settings: Settings) -> bytes:
    """The file's bytes, refused past stt.max_mb before it is read."""
    from anima.hearing.audio import AudioTooLong

    file = Path(path)
    size = (await asyncio.to_thread(file.stat)).st_size
    if size > settings.stt.max_mb * 1e6:
        raise AudioTooLong(
            f"{path} is {size / 1e6:.1f} MB; at most {settings.stt.max_mb:g} MB can be listened to"
        )
    return await asyncio.to_thread(file.read_bytes)


async def hear(settings: Settings, args: argparse.Namespace) -> int:
    hearing = HearingService(settings.stt, settings.llm, settings.resolve)
    try:
        data = await _read(args.file, settings)
        languages = [args.language] if args.language else hearing.languages("en")
        started = time.perf_counter()
        transcript = await hearing.hear(data, languages)
        took = time.perf_counter() - started
    finally:
        await hearing.close()
    print(transcript.text)
    if args.verbose:
        print(
            f"({transcript.engine}, {transcript.language}, {transcript.duration_s:.1f} s of audio "
            f"in {took:.1f} s)"
        )
    return 0


async def melody(settings: Settings, args: argparse.Namespace) -> int:
    hearing = HearingService(settings.stt, settings.llm, settings.resolve)
    try:
        heard = await hearing.melody(await _read(args.file, settings))
    finally:
        await hearing.close()
    print(f"/sing {notation(heard.score)}")
    print(f"({describe(heard)})")
    return 0


async def sing_hum(settings: Settings, args: argparse.Namespace) -> int:
    """`anima sing CHARACTER FILE.ogg --lyrics "…"`: the hummed tune sung with the lyrics."""
    from anima.characters.library import CharacterLibrary
    from anima.errors import AnimaError
    from anima.voice import VoiceService
    from anima.voice.sing.singer import Busy, Singer

    if not args.lyrics:
        raise AnimaError(f"{args.score} is a recording: give the words to sing on its tune with --lyrics")
    card = CharacterLibrary.load(settings.resolve(settings.characters_dir)).get(args.character)
    hearing = HearingService(settings.stt, settings.llm, settings.resolve)
    voice = VoiceService(settings.voice, settings.resolve)
    singer = Singer(voice)
    try:
        heard = await hearing.melody(await _read(args.score, settings))
        score = heard.score.transposed(args.transpose) if args.transpose else heard.score
        fitted = fit_lyrics(score, args.lyrics)
        started = time.perf_counter()
        note = await singer.sing(card, fitted.score, backing=args.backing)
        took = time.perf_counter() - started
    finally:
        singer.close()
        await voice.close()
        await hearing.close()
    if isinstance(note, Busy):  # a fresh singer has an empty queue
        raise AnimaError("the singer is busy; try again in a moment")
    out = Path(args.output or f"{card.id}-song.ogg")
    await asyncio.to_thread(out.write_bytes, note.ogg)
    print(f"/sing {notation(fitted.score)}")
    if fitted.notice:
        print(f"({fitted.notice})")
    print(
        f"{out}: {note.duration_s:.1f} s sung by {card.name} on the tune heard ({describe(heard)}), "
        f"rendered in {took:.1f} s"
    )
    return 0
