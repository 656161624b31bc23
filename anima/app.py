"""The composition root: assembles the running parts from Settings (cards, memory, LLM router, the
pipeline, soul growth, voice and hearing). Only the entry points import it (anima/cli.py, anima/bots/)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from anima.characters.library import CharacterLibrary
from anima.characters.reload import CardWatcher
from anima.commands import Commands
from anima.config import Settings
from anima.core.admission import Admission
from anima.core.casts import Casts, quiet_hours_in
from anima.core.conversations import Conversations
from anima.core.ordering import ConversationLocks, SharedLocks
from anima.core.pipeline import Pipeline
from anima.core.preferences import ChatPreferences
from anima.core.proactive import Proactive
from anima.errors import AnimaError
from anima.hearing import HearingService
from anima.hearing.stage import Listening
from anima.llm.router import LLMRouter
from anima.memory.locks import AdvisoryLocks
from anima.memory.store import MemoryStore
from anima.ops.allocator import tune_allocator
from anima.ops.collector import freeze_startup_objects
from anima.preflight import check_start
from anima.safety import SafetyPolicy
from anima.seeing import Seeing, Selfies
from anima.soul import LearnedLayer, SoulProposer, SoulStore
from anima.voice import VoiceService

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    characters: CharacterLibrary
    memory: MemoryStore
    router: LLMRouter
    pipeline: Pipeline
    soul: SoulStore  # what characters learned from their conversations (anima/soul)
    proposer: SoulProposer  # proposes what to learn, on the memory keeper's worker
    watcher: CardWatcher | None = None  # hot reload of characters/ (settings.reload_characters)
    voice: VoiceService = field(default_factory=VoiceService)  # runtime.voice.speak(card, text)
    shared_locks: SharedLocks | None = None  # conversation locks every process sees (PostgreSQL)
    hearing: HearingService = field(default_factory=HearingService)  # voice messages to text, hums
    conversations: Conversations = field(init=False)  # what adapters call with each message
    commands: Commands = field(init=False)  # the chat commands, for every adapter
    selfies: Selfies = field(init=False)  # pictures of the characters (/selfie, images.auto)
    proactive: Proactive = field(init=False)  # characters writing first (anima/core/proactive.py)
    _settling: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        listener = Listening(self.hearing, self.settings.voice.reply_to_voice)
        seer = Seeing(self.settings.images)
        settings = self.settings
        self.selfies = Selfies(
            settings.images, settings.llm, self.memory, self.pipeline.safety, settings.resolve
        )
        self.conversations = Conversations(
            self.pipeline,
            ChatPreferences(self.memory, self.characters),
            self.voice,
            listener,
            seer,
            self.selfies,
        )
        self.conversations.shared = self.shared_locks is not None
        self.conversations.coalesce_s = settings.conversation.coalesce_ms / 1000
        owner = f"{self.conversations.inbox.owner}:{id(self):x}"  # two runtimes in one process differ
        self.proactive = Proactive(self.pipeline, settings.conversation, owner)
        quiet = quiet_hours_in(self.proactive.zone)  # the cards' quiet hours, as for writing first
        self.conversations.casts = Casts(settings.casts, self.characters, quiet=quiet)
        self.commands = Commands(
            self.conversations,
            self.voice,
            self.soul,
            self.settings.llm,
            self.hearing,
            self.selfies,
            self.proactive,
        )

    @classmethod
    async def start(cls, settings: Settings, progress: Callable[[str], None] | None = None) -> Runtime:
        """Validate every card, open the database; LLM backends load on first use."""
        tune_allocator()  # before the runtime's threads start
        characters = check_start(settings)  # what `anima config check` checks: fail here, not on a message
        memory = await MemoryStore.open(
            settings.database_url,
            settings.memory.history_messages,
            settings.memory.vectors,
            settings.memory.encoder,
            cache_conversations=settings.memory.cache_conversations,
            cache_bytes=int(settings.memory.cache_mb * 1024 * 1024),
        )
        router = LLMRouter(settings.llm, progress)
        safety = SafetyPolicy.from_settings(settings.safety, memory, router)
        await safety.start()
        # On PostgreSQL several `anima run` may share the database: turns also lock across processes.
        shared = AdvisoryLocks(settings.database_url) if memory.database.dialect == "postgresql" else None
        memory.other_writers = shared is not None
        memory.linked_scope = settings.memory.linked_scope
        memory.locks = locks = ConversationLocks(shared)  # forgetting a person waits for their turns
        memory.inbox_retention = timedelta(hours=settings.memory.inbox_retention_hours)
        memory.picture_retention = timedelta(days=settings.images.retention_days)
        pipeline = Pipeline(
            characters,
            memory,
            router,
            settings.default_character,
            safety,
            memory_settings=settings.memory,
            locks=locks,
        )
        pipeline.admission = Admission.from_settings(settings.limits)
        soul = SoulStore(memory)
        pipeline.prompt_layers.append(LearnedLayer(soul))
        proposer = SoulProposer(soul, pipeline.keeper)
        pipeline.keeper.also.append(proposer)  # proposals run in the background, never in a reply
        watcher = CardWatcher(characters) if settings.reload_characters else None
        if watcher is not None:
            await watcher.start()
        voice = VoiceService(settings.voice, settings.resolve)
        hearing = HearingService(settings.stt, settings.llm, settings.resolve)
        runtime = cls(
            settings, characters, memory, router, pipeline, soul, proposer, watcher, voice, shared, hearing
        )
        runtime._settling = asyncio.create_task(runtime._settle())
        return runtime

    async def _settle(self) -> None:
        try:
            await self.pipeline.safety.warmed()  # the models, read in the background, are start-up's too
        except AnimaError as exc:  # the checks that need them raise it again; close() too
            log.error("the safety models did not load: %s", exc)
        freeze_startup_objects()

    async def settled(self) -> None:
        """Wait until start-up is over: the safety models loaded, start-up's objects frozen out of
        the garbage collector's passes (anima/ops/collector.py)."""
        if self._settling is not None:
            await self._settling

    async def close(self) -> None:
        await self.settled()
        await self.proactive.close()
        if self.watcher is not None:
            await self.watcher.stop()
        await self.voice.close()
        await self.selfies.close()
        await self.hearing.close()
        await self.pipeline.close()
        if self.shared_locks is not None:
            await self.shared_locks.close()
        await self.pipeline.safety.close()
        await self.router.close()
        await self.memory.close()
