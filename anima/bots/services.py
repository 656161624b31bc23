"""What a chat's runner (a platform adapter, the terminal) uses of the runtime, as a protocol: the
parts, never the composition root itself. `anima/app.py` builds them; the service hands its
`Runtime` over, which fits."""

from __future__ import annotations

from typing import Protocol

from anima.characters.library import CharacterLibrary
from anima.commands import Commands
from anima.config import Settings
from anima.core.conversations import Conversations
from anima.llm.router import LLMRouter
from anima.memory.store import MemoryStore


class Services(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def characters(self) -> CharacterLibrary: ...

    @property
    def memory(self) -> MemoryStore: ...

    @property
    def router(self) -> LLMRouter: ...

    @property
    def conversations(self) -> Conversations: ...

    @property
    def commands(self) -> Commands: ...
