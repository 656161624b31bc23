"""The one table of chat commands, and running one: the Telegram menu, the Discord slash commands
and the terminal's /help are all made from `COMMANDS`.

Adding a command is one function (a Context in, an Answer out) and one row here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Literal

from anima.commands import chat, images, safety, sing, social, soul
from anima.commands.context import Context
from anima.config import LLMSettings
from anima.core.conversations import Conversations
from anima.core.messages import Attachment
from anima.core.pipeline import Pipeline
from anima.core.preferences import ChatPreferences
from anima.core.proactive import Proactive
from anima.core.surface import Answers, Surface, Text, deliver
from anima.errors import AnimaError
from anima.hearing import HearingService
from anima.seeing import Selfies
from anima.soul.store import SoulStore
from anima.voice import VoiceService
from anima.voice.sing.singer import Singer

log = logging.getLogger(__name__)

Permission = Literal["anyone", "bot_admin"]  # finer rules (a group's admins change its settings) are inside
INTRO = (
    "Talk to me by writing a message. In a group, mention me, reply to me, or start your message "
    "with my name."
)
UNKNOWN = "I don't know that command. /help lists what I understand."
BOT_ADMINS_ONLY = "Only this bot's admins (the card owners) can do that."
FAILED = "Something went wrong on my side; it has been logged. Please try again in a moment."


@dataclass(frozen=True)
class Command:
    name: str
    run: Callable[[Context], Awaitable[Answers]]
    description: str  # one line, under Discord's 100 characters
    args: str = ""  # how its words are written ("on|off"), "" when it takes none
    permission: Permission = "anyone"
    takes_file: bool = False  # a file may come with it (a score to /sing)


async def _help(ctx: Context) -> Answers:
    return Text(help_text())


COMMANDS: tuple[Command, ...] = (
    Command("start", chat.start, "Say hello"),
    Command("help", _help, "What I can do"),
    Command("about", chat.about, "Who answers here: persona, voice, rating"),
    Command("character", chat.character, "Choose who answers in this chat", "[NAME]"),
    Command("reset", chat.reset, "Start a fresh conversation (what was said stays stored)"),
    Command("memory", chat.memory, "What the character remembers about you", "[why | forget N | pin N]"),
    Command("forget", chat.forget, "Delete everything stored about you"),
    Command("voice", chat.voice, "Voice replies on or off", "on|off"),
    Command("persona", chat.persona, "How characters see you", "[NAME: who you are | clear]"),
    Command(
        "link", social.link, "One memory of you on Telegram and Discord: a code, then /link CODE", "[CODE]"
    ),
    Command("unlink", social.unlink, "Separate this account from the one you linked"),
    Command("proactive", social.proactive, "Let the character write first after a quiet while", "on|off"),
    Command(
        "safety",
        safety.safety,
        "Safety settings here; admins can make them stricter",
        "[rating|block|unblock|reset ...]",
    ),
    Command(
        "sing",
        sing.sing,
        "Sing a melody, a MIDI/MusicXML file, or a tune you hum in a voice note",
        "tempo=96 | C4 D4 E4 | la la la",
        takes_file=True,
    ),
    Command("selfie", images.selfie, "A picture of me, wherever you like", "[scene]"),
    Command(
        "soul",
        soul.soul,
        "What the character learned (bot admins)",
        "[diff|approve ID|reject ID|history|rollback V]",
        "bot_admin",
    ),
)
BY_NAME = {command.name: command for command in COMMANDS}


def help_text(extra: tuple[str, ...] = ()) -> str:
    lines = [f"/{c.name}{' ' + c.args if c.args else ''} – {c.description}" for c in COMMANDS]
    return INTRO + "\n\n" + "\n".join([*lines, *extra])


def parse(line: str, bot: str | None = None) -> tuple[str, str] | None:
    """("sing", "tempo=96 | C4") for "/sing@aiko_bot tempo=96 | C4"; None for a line that is no
    command, or, given the `bot`'s username, for one addressed to another bot ("/help@other_bot")."""
    if not line.startswith("/"):
        return None
    head, _, args = line[1:].partition(" ")
    name, _, target = head.partition("@")
    if bot is not None and target and target.lower() != bot.lower():
        return None
    return (name.lower(), args.strip()) if name else None


@dataclass(eq=False, repr=False)  # a service: compared and shown as itself
class Commands:
    """What commands work with (the conversation service, the chat preferences, the singer), and
    running one: permission, the command, its answer delivered to the surface."""

    conversations: Conversations
    voice: InitVar[VoiceService]  # what the singer sings with
    soul: SoulStore
    llm: LLMSettings  # what installed cards may ask of the configured backends
    hearing: HearingService = field(default_factory=HearingService)  # /sing on a hummed recording
    selfies: Selfies | None = None  # None: pictures are not made here
    proactive: Proactive | None = None  # None: characters never write first here
    pipeline: Pipeline = field(init=False)
    preferences: ChatPreferences = field(init=False)
    on_forget: list[Callable[[str, str], None]] = field(init=False)
    singer: Singer = field(init=False)

    def __post_init__(self, voice: VoiceService) -> None:
        self.pipeline = self.conversations.pipeline
        self.preferences = self.conversations.preferences
        self.on_forget = self.conversations.on_forget
        self.singer = Singer(voice)

    async def context(
        self,
        surface: Surface,
        args: str = "",
        attachments: tuple[Attachment, ...] = (),
        *,
        default: str,
        chats: Sequence[str] = (),
        bot_key: str = "",
        guild_id: str | None = None,
    ) -> Context:
        """A command's context in `surface`'s chat, with the character answering there: the one bound
        to the first of `chats` that has one (a thread, then its channel; by default the chat), else
        `default`."""
        chats = list(chats) or [surface.chat_id]
        card = await self.preferences.character(surface.platform, chats, bot_key, default)
        parent = chats[1] if len(chats) > 1 else None
        return Context(self, surface, card, args, attachments, bot_key, default, parent, guild_id)

    async def answer(self, name: str, ctx: Context) -> Answers:
        """What command `name` answers; an unknown one or a refusal is a text too."""
        command = BY_NAME.get(name)
        if command is None:
            return Text(UNKNOWN, private=True)
        if command.permission == "bot_admin" and not ctx.surface.is_bot_admin():
            return Text(BOT_ADMINS_ONLY, private=True)
        try:
            return await command.run(ctx)
        except AnimaError as exc:
            return Text(str(exc), private=True)

    async def run(self, name: str, ctx: Context) -> None:
        """Run command `name` and show its answer; a failure is logged and answered in one line."""
        try:
            answers = await self.answer(name, ctx)
        except Exception:
            log.exception("/%s failed", name)
            answers = Text(FAILED, private=True)
        await deliver(ctx.surface, answers)
