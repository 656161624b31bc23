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
    """A backend failed: unreachable, timed out, refused, or its stream broke.

    `retryable` says whether the same backend may answer if asked again (the router retries those,
    with backoff, while nothing of the reply has been shown); `retry_after` is the server's own wait
    in seconds, when it named one.
    """

    retryable = False

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMUnavailable(LLMError):
    """The backend could not be reached or answered 5xx: worth another try after a pause."""

    retryable = True


class LLMRateLimited(LLMUnavailable):
    """HTTP 429: the backend asked us to wait (`retry_after`, when it said how long)."""


class LLMTimedOut(LLMUnavailable):
    """No first token in time (a backend that hangs), or no complete reply in time."""


class LLMStreamBroken(LLMError):
    """The stream stopped mid-reply; what arrived has been shown, so it is not asked again."""


class ModelFileMissing(LLMError):
    pass


class MemoryStoreError(AnimaError):
    """The database could not be opened or written."""


class VoiceError(AnimaError):
    """Speech could not be made: an engine is missing or failed, or the text has nothing to say.

    Adapters catch it after the text reply has gone out, so a voice failure never loses the text.
    """


class InputRejected(ConfigError):
    """A card, lorebook or config over one of its limits, or naming a path outside its folder.

    Raised before any work is done on the input; like ConfigError, each problem names the file, the
    line when there is one, the field, and what to do.
    """


class HearingError(AnimaError):
    """A voice message could not be understood: unreadable, too long, silent, or no engine to hear it.

    The message says why in words a person can act on; adapters put it in the character's mouth.
    """


class NotDelivered(AnimaError):
    """The platform did not take a reply and may later (unreachable, still rate limiting): the message
    stays unanswered in the inbox and is answered at the next start. Raised by adapters' surfaces."""
