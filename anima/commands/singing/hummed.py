"""/sing on a hummed tune: a voice note (or audio file) with `/sing` and lyrics as its caption, or
`/sing` and lyrics in reply to one. The tune is heard (anima/hearing), the lyrics fitted to its
notes, and the character sings them; the answer shows the notation heard, to correct and /sing."""

from __future__ import annotations

from anima.commands.context import Context
from anima.commands.singing.checks import check_lyrics, may_sing
from anima.commands.singing.failures import song_failed
from anima.core.messages import Attachment
from anima.core.surface import Answers, NotFetched, Text, Voice
from anima.errors import AnimaError, HearingError
from anima.hearing import apology
from anima.hearing.command import is_audio_file
from anima.hearing.song import fit_lyrics, notation
from anima.hearing.stage import RECORDING_KINDS
from anima.safety import TurnSafety
from anima.voice.sing.notation import parse_settings
from anima.voice.sing.singer import Busy, busy_line

HOW = (
    "Hum me the tune in a voice note and write the words as its caption: /sing twinkle twinkle little "
    "star — or reply to the voice note with /sing and the words."
)


def is_recording(attachment: Attachment) -> bool:
    return (
        attachment.kind in RECORDING_KINDS
        or attachment.mime_type.startswith("audio/")
        or is_audio_file(attachment.name)
    )


async def sing_hummed(ctx: Context, recording: Attachment) -> Answers:
    card, surface, hearing = ctx.card, ctx.surface, ctx.app.hearing
    options, lyrics = parse_settings(ctx.args)  # transpose=-12, backing=on, then the words
    if not lyrics.strip():
        return Text(HOW)
    turn = await may_sing(ctx)
    if not isinstance(turn, TurnSafety):
        return turn
    data = await surface.fetch(recording, int(hearing.settings.max_mb * 1e6))
    if isinstance(data, NotFetched):
        return Text(apology(card.name, HearingError(data.reason)))
    try:
        async with surface.showing("recording"):
            melody = await hearing.melody(data)
            score = melody.score.transposed(round(float(options.get("transpose", 0))))
            fitted = fit_lyrics(score, lyrics)
            if refused := await check_lyrics(turn, fitted.score):
                return Text(refused.text)
            sung = await ctx.app.singer.sing(card, fitted.score, options.get("backing") in ("on", "yes"))
    except HearingError as exc:
        return Text(apology(card.name, exc))
    except AnimaError as exc:
        return song_failed(card.name, surface.chat_id, exc)
    if isinstance(sung, Busy):  # the singer's queue filled meanwhile
        return Text(busy_line(card, surface.display_name))
    heard = f"🎵 I heard: /sing {notation(fitted.score)}"
    if fitted.notice:
        heard += f"\n({fitted.notice})"
    return [Text(heard), Voice(sung, caption=f"🎤 {card.name} sings your tune ({sung.duration_s:.0f} s)")]
