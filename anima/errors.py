"""The one exception hierarchy: every message says what went wrong and what to do."""

from __future__ import annotations


class AnimaError(Exception):
    """Base of every error Anima raises on purpose; its text is meant for the user."""


class ConfigError(AnimaError):
    """A config file or character card is wrong; the message names file, line and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class CharacterNotFound(AnimaError):
    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = available
        listing = ", ".join(available) if available else "none"
        super().__init__(f"no character named {name!r}; available: {listing}")


class LLMError(AnimaError):
    """A backend failed: unreachable, timed out, refused, or its stream broke."""


class ModelFileMissing(LLMError):
    pass


class MemoryStoreError(AnimaError):
    """The database could not be opened or written."""


class VoiceError(AnimaError):
    """Speech could not be made: an engine is missing or failed, or the text has nothing to say.

    Adapters catch it after the text reply has gone out, so a voice failure never loses the text.
    """
