"""What the surfaces (the platform adapters, the terminal, the studio) use of the runtime, as a
protocol: the parts, never the composition root itself. `anima/app.py` builds them; the entry points
(`anima/cli.py`, `anima/bots/service.py`) hand its `Runtime` over, which fits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # names for the checker only: importing this module loads none of them
    from anima.characters.library import CharacterLibrary
    from anima.commands import Commands
    from anima.config import Settings
    from anima.core.conversations import Conversations
    from anima.core.pipeline import Pipeline
    from anima.core.proactive import Proactive
    from anima.llm.router import LLMRouter
    from anima.memory.store import MemoryStore
    from anima.soul import SoulStore


class Services(Protocol):
    settings: Settings
    characters: CharacterLibrary
    memory: MemoryStore
    router: LLMRouter
    pipeline: Pipeline
    soul: SoulStore
    conversations: Conversations
    commands: Commands
    proactive: Proactive  # where adapters say how to reach a chat unprompted
