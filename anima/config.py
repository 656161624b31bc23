"""Settings: the typed model of config.yaml, ${VAR} interpolation, and errors with file:line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from anima.errors import ConfigError
from anima.yaml_source import YamlDocument, read_yaml, validation_problems

DEFAULT_CONFIG = Path("config.yaml")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# How the prompt is laid out (anima/core/prompt.py): "full" for capable models; "compact" for tiny
# ones (a short system prompt, the example dialogue as real turns, a short history); "auto" picks
# compact for the bundled model and for context windows of 2048 tokens or less.
PromptStyle = Literal["auto", "full", "compact"]


class EmbeddedBackend(_Strict):
    """llama.cpp in-process (xllamacpp) on the bundled SmolLM2-135M-Instruct, or any .gguf."""

    kind: Literal["embedded"]
    model_path: Path | None = None
    context_window: int = Field(2048, ge=256)
    max_tokens: int = Field(90, ge=1)  # the bundled model rambles and loops in long replies
    # None: half the CPUs this process may use (one on two cores). llama.cpp's threads spin at each
    # step's barrier, so one more thread than a core is free makes generation 10-20x slower.
    threads: int | None = Field(None, ge=1)
    temperature: float = 0.7
    timeout_s: float = Field(120, gt=0)
    prompt_style: PromptStyle = "auto"
    # Sampling, as llama.cpp names it: penalties against the loops small models fall into.
    top_p: float = Field(0.9, gt=0, le=1)
    top_k: int = Field(40, ge=0)  # 0: off
    min_p: float = Field(0.05, ge=0, le=1)
    repeat_penalty: float = Field(1.15, ge=1)  # 1: off
    repeat_last_n: int = Field(128, ge=-1)  # the window the penalties look back over (-1: the context)
    frequency_penalty: float = Field(0.3, ge=0, le=2)
    presence_penalty: float = Field(0.3, ge=0, le=2)
    # Cut loops and lines in another speaker's voice, end on a whole sentence (anima/llm/tidy.py).
    tidy_replies: bool = True


class OpenAIBackend(_Strict):
    """Any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp server, OpenRouter."""

    kind: Literal["openai"]
    base_url: str = "https://api.openai.com/v1"
    api_key: SecretStr = SecretStr("")
    model: str = "gpt-4o-mini"
    context_window: int = Field(16384, ge=256)
    max_tokens: int = Field(400, ge=1)
    temperature: float = 0.8
    connect_timeout_s: float = Field(10, gt=0)
    timeout_s: float = Field(120, gt=0)
    max_retries: int = Field(3, ge=0)
    # replies streaming from this server at once, per process: a hosted API or vLLM answers many at
    # once, so the process's CPU, not this, should bound a busy bot (a small local server queues them)
    max_concurrency: int = Field(64, ge=1)
    prompt_style: PromptStyle = "auto"
    vision: bool = False  # the model reads pictures (OpenAI-style image content parts; docs/images.md)


Backend = Annotated[EmbeddedBackend | OpenAIBackend, Field(discriminator="kind")]


class LLMSettings(_Strict):
    default: str = "embedded"
    fallbacks: list[str] = Field(default_factory=list)
    backends: dict[str, Backend] = Field(default_factory=lambda: _embedded_only())
    # LLM calls in flight at once over all backends, per process: a backstop; each backend's own
    # max_concurrency is what fits its server (embedded 1, openai 64)
    max_concurrency: int = Field(256, ge=1)
    # Faults (docs/operations.md, "LLM faults…"): a backend's own max_retries, with backoff from
    # retry_backoff_s doubling up to retry_backoff_max_s (full jitter), inside the first-token limit;
    # a Retry-After longer than max_retry_after_s (or than the time left) moves on to the fallback.
    first_token_timeout_s: float = Field(60, gt=0)
    retry_backoff_s: float = Field(0.5, ge=0)
    retry_backoff_max_s: float = Field(8, ge=0)
    max_retry_after_s: float = Field(20, ge=0)
    # a backend whose replies failed this many times in a row is skipped for breaker_cooldown_s (0: never)
    breaker_failures: int = Field(3, ge=0)
    breaker_cooldown_s: float = Field(5, ge=0)

    @model_validator(mode="after")
    def _names_exist(self) -> LLMSettings:
        for name in [self.default, *self.fallbacks]:
            if name not in self.backends:
                known = ", ".join(self.backends) or "none"
                raise ValueError(f"backend {name!r} is not defined under llm.backends (defined: {known})")
        return self


class MemorySettings(_Strict):
    database_url: str = "sqlite+aiosqlite:///data/anima.db"  # or postgresql+asyncpg://user@host/db
    history_messages: int = Field(200, ge=2)
    recall_memories: int = Field(8, ge=0)  # older turns, summaries and facts recalled per message (0: off)
    recall_tokens: int = Field(400, ge=0)  # their own token budget in the prompt
    summarize_every: int = Field(40, ge=0)  # messages per background LLM summary (0: off)
    llm_facts_every: int = Field(10, ge=0)  # user messages per background LLM fact extraction (0: off)
    # vector recall too (from the model in the default install, nothing downloaded): unset: on when
    # the model is installed; true: on, required (the start fails without it); false: full text alone
    vectors: bool | None = None
    # static: MiniLM's token vectors, idf-weighted (~1 ms of CPU a message); minilm: the full encoder
    # (~90 ms a message). Vectors already stored by the other are not comparable: see docs/memory-and-soul.md
    encoder: Literal["static", "minilm"] = "static"
    # the recent messages of this many conversations stay in memory, least recently used dropped first
    cache_conversations: int = Field(10_000, ge=1)
    # … and at most this much of them (by text size plus ~200 bytes a message: 32 MB holds ~25,000
    # ordinary messages, ~130 full histories); a dropped one is read back with its next message
    cache_mb: float = Field(32, gt=0)
    # answered platform events (raw Telegram updates, Discord messages) are deleted after this many hours
    inbox_retention_hours: float = Field(48, ge=24)
    # what a character remembers of a person reaches their accounts linked with /link: what was said in
    # private chats (private), everything (all), or nothing (none)
    linked_scope: Literal["private", "all", "none"] = "private"


class TelegramBotSettings(_Strict):
    """One Telegram bot (one BotFather token), bound to a default character."""

    token: SecretStr
    character: str | None = None  # None: default_character
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    # webhook mode only
    listen: str = "127.0.0.1"
    port: int = Field(8443, ge=1, le=65535)
    url: str | None = None
    secret_token: SecretStr | None = None  # None: a random one per start
    # Telegram's flood limits (0 turns one off) and the streaming edit budget per chat
    messages_per_second: float = Field(30, ge=0)
    group_messages_per_minute: float = Field(20, ge=0)
    edit_interval_s: float = Field(1.0, gt=0)
    group_edit_interval_s: float = Field(3.0, gt=0)
    # how many recent lines of a group the character sees besides its own talk with the sender (0: none)
    group_context_lines: int = Field(8, ge=0)
    # Telegram user ids (numbers) allowed to install character cards by sending the file in a private chat
    admins: list[Annotated[str, Field(coerce_numbers_to_str=True)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _webhook_has_url(self) -> TelegramBotSettings:
        if self.mode == "webhook" and not self.url:
            raise ValueError("mode: webhook needs url (the public HTTPS address Telegram posts updates to)")
        return self


class DiscordBotSettings(_Strict):
    """One Discord bot application (one token), bound to a default character."""

    token: SecretStr
    character: str | None = None  # None: default_character
    api_base: str = "https://discord.com/api/v10"  # change only to use a Discord API proxy
    allow_bots: list[str] = Field(default_factory=list)  # ids of other bots it may answer
    avatars: dict[str, str] = Field(default_factory=dict)  # card id → image URL for its webhook persona
    mention_replied_user: bool = False  # whether a reply pings the person it answers
    edit_interval_s: float = Field(1.5, ge=0.1)  # at most one streaming edit per this many seconds
    # Discord user ids allowed to install character cards by sending the file to the bot in a DM
    admins: list[Annotated[str, Field(coerce_numbers_to_str=True)]] = Field(default_factory=list)
    # Several processes share one bot's gateway shards (see docs/operations.md, "Running several processes"):
    # shard_count in all of them, and each its own shard_ids. None: one process runs every shard.
    shard_count: int | None = Field(None, ge=1)
    shard_ids: list[int] | None = None

    @model_validator(mode="after")
    def _shards_fit(self) -> DiscordBotSettings:
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("shard_ids needs shard_count: the number of shards over all processes")
            outside = [i for i in self.shard_ids if not 0 <= i < self.shard_count]
            if outside or not self.shard_ids:
                raise ValueError(f"shard_ids must be some of 0..{self.shard_count - 1}, got {self.shard_ids}")
        return self


CastStrategy = Literal["natural", "list", "pooled", "manual"]


class CastSettings(_Strict):
    """Several characters on one stage: a group chat where the members take turns (docs/casts.md)."""

    # "telegram:-1001234567890" (the group's id) or "discord:CHANNEL_ID"
    chat: str = Field(pattern=r"^(telegram|discord):-?\d{1,20}$")
    members: list[str] = Field(min_length=2, max_length=16)  # card ids
    # natural: who is addressed, then talkativeness; list: each in order; pooled: each once before
    # repeats; manual: only who is addressed
    strategy: CastStrategy = "natural"
    max_bot_turns: int = Field(3, ge=1, le=20)  # member messages in a row, then a person must speak

    @property
    def platform(self) -> str:
        return self.chat.partition(":")[0]

    @property
    def chat_id(self) -> str:
        return self.chat.partition(":")[2]

    @model_validator(mode="after")
    def _members_differ(self) -> CastSettings:
        if len(set(self.members)) != len(self.members):
            raise ValueError(f"members: a character is named twice in {self.members}")
        return self


class BotsSettings(_Strict):
    telegram: list[TelegramBotSettings] = Field(default_factory=list)
    discord: list[DiscordBotSettings] = Field(default_factory=list)


VoiceEngine = Literal["espeak", "openai", "piper"]


class OpenAIVoiceSettings(_Strict):
    """Any OpenAI-compatible /v1/audio/speech: OpenAI, Kokoro-FastAPI, openedai-speech, LocalAI."""

    base_url: str = "https://api.openai.com/v1"
    api_key: SecretStr = SecretStr("")
    model: str = "gpt-4o-mini-tts"
    voice: str = "alloy"  # when a card names none
    response_format: Literal["wav", "flac", "pcm"] = "wav"  # formats decoded without ffmpeg
    pcm_sample_rate: int = Field(24000, ge=8000)  # what the server sends for "pcm"
    timeout_s: float = Field(60, gt=0)
    max_retries: int = Field(2, ge=0)


class PiperVoiceSettings(_Strict):
    """Piper (`pip install 'anima[piper]'`) with .onnx voice files you download yourself."""

    voices_dir: Path = Path("voices")  # a card's voice.voice is a file name in here (or a path)
    voice: str | None = None  # the .onnx used when a card names none


class VoiceSettings(_Strict):
    """Synthesized voice notes: which engines may run, their defaults, the cache and the pool."""

    # A card asking for an engine not listed here falls back to the first one; [] turns voice off.
    engines: list[VoiceEngine] = Field(default_factory=lambda: _espeak_only())
    max_concurrency: int = Field(2, ge=1)  # voice notes made at once, off the event loop
    max_chars: int = Field(1500, ge=1)  # longer replies are spoken up to a sentence end within this
    cache_dir: Path = Path("data/voice-cache")
    cache_max_mb: float = Field(200, ge=0)  # 0 turns the cache off
    notes_dir: Path = Path("data/voice")  # where `anima chat` writes voice notes
    openai: OpenAIVoiceSettings = Field(default_factory=OpenAIVoiceSettings)
    piper: PiperVoiceSettings = Field(default_factory=PiperVoiceSettings)
    reply_to_voice: bool = True  # a person who speaks (a voice message) is answered with a voice note


class SttSettings(_Strict):
    """Speech to text for voice messages (see docs/voice.md, "Voice messages")."""

    engine: Literal["whisper", "openai", "none"] = "whisper"  # whisper: offline (`make hearing`)
    model: Literal["tiny.en", "base"] = "base"  # whisper's model for English; other languages use base
    backend: str = "openai"  # engine openai: a name under llm.backends (an OpenAI-compatible server)
    openai_model: str = "whisper-1"  # engine openai: the model name the server knows
    # languages people may speak; []: the character's language and English
    languages: list[str] = Field(default_factory=list)
    max_seconds: float = Field(120, gt=0, le=3600)  # longer audio is refused with a clear line
    max_mb: float = Field(20, gt=0, le=200)  # larger files are refused before they are read
    echo: bool = False  # show the person a short "🎤 heard: …" line with what was understood
    models_dir: Path = Path("data/stt-models")  # where the multilingual model is put together once
    max_concurrency: int = Field(1, ge=1)  # voice messages transcribed at once, off the event loop
    threads: int = Field(2, ge=1)  # CPU threads one transcription uses


class ImagesSettings(_Strict):
    """Pictures people send (seen by a vision backend) and pictures characters send (docs/images.md)."""

    see: bool = True  # pictures people send are prepared for the model (or noted for one without vision)
    max_mb: float = Field(10, gt=0, le=50)  # larger files are refused before they are read
    max_pixels: int = Field(40_000_000, ge=1, le=200_000_000)  # width x height, checked before decoding
    max_side: int = Field(1024, ge=64, le=4096)  # what the model gets: resized to fit this square
    thumbnail_side: int = Field(256, ge=16, le=1024)  # what is stored with the message
    retention_days: float = Field(30, ge=0)  # stored thumbnails older than this are deleted (0: none kept)
    max_concurrency: int = Field(2, ge=1)  # pictures decoded at once, off the event loop
    # pictures out (/selfie, and requests in plain words with auto)
    backend: str = "openai"  # a name under llm.backends: its base_url and api_key are used
    model: str = "gpt-image-1"  # or dall-e-3, or what the local server serves
    size: str = Field("1024x1024", pattern=r"^\d{2,4}x\d{2,4}$")
    per_person_per_day: int = Field(5, ge=0)
    auto: bool = False  # "send me a picture of you at the beach" makes one, as /selfie does
    timeout_s: float = Field(120, gt=0)
    cache_dir: Path = Path("data/images")  # made pictures, reused for the same request within a day


class ModerationSettings(_Strict):
    """An optional second opinion on replies: an OpenAI-compatible /v1/moderations, or an LLM judge."""

    kind: Literal["openai", "judge"]
    base_url: str = "https://api.openai.com/v1"  # kind openai
    api_key: SecretStr = SecretStr("")
    model: str = "omni-moderation-latest"
    backend: str | None = None  # kind judge: a name under llm.backends (e.g. a Llama Guard 3 model)
    # kind judge: "prompt" sends Llama Guard 3's whole prompt as one message (any model, any server);
    # "conversation" sends the turn as chat messages, for a server that applies Llama Guard's template
    format: Literal["prompt", "conversation"] = "prompt"
    timeout_s: float = Field(3.0, gt=0)  # past this the local checks' decision stands
    sample_rate: float = Field(0.0, ge=0, le=1)  # share of unflagged replies also judged
    cache_size: int = Field(1024, ge=0)


class SafetySettings(_Strict):
    """Moderation of what people send and what characters answer (see docs/safety.md)."""

    max_input_chars: int = Field(4000, ge=1)
    flood_messages: int = Field(10, ge=1)  # per user within flood_window_s; past it one notice, then silence
    flood_window_s: float = Field(20, gt=0)
    audit_excerpt: Literal["text", "hash", "none"] = "text"  # what the audit keeps of a flagged text
    learned_guard: bool = True  # the trained classifier on messages and replies (anima/safety/classifier.py)
    # per rating: "checked" streams sentences that passed the local checks, "final" shows only the
    # checked reply, "raw" streams everything (the checked reply still replaces it at the end)
    stream: dict[Literal["general", "teen", "mature"], Literal["checked", "final", "raw"]] = Field(
        default_factory=dict
    )
    moderation: ModerationSettings | None = None


class OpsSettings(_Strict):
    """Operations: an HTTP endpoint for Prometheus metrics and health checks, and the log format."""

    metrics_port: int | None = Field(None, ge=0, le=65535)  # None: no endpoint; 0: any free port
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 to let a scraper on another host in
    log_format: Literal["text", "json"] = "text"  # one line per event either way; secrets redacted


class StudioSettings(_Strict):
    """The studio (docs/studio.md): `anima studio` serves it; `anima run` too when `port` is set."""

    port: int | None = Field(None, ge=0, le=65535)  # None: `anima run` serves no studio; 0: any free port
    host: str = "127.0.0.1"  # only this machine, unless configured otherwise


class ConversationSettings(_Strict):
    """How messages are read and when characters write first (docs/social.md)."""

    # messages of one person in one conversation this close together are answered once (0: each alone)
    coalesce_ms: int = Field(1500, ge=0, le=60_000)
    # the deployment's time zone (IANA, "Europe/Berlin") for quiet hours; None: the machine's
    timezone: str | None = None
    proactive_check_s: float = Field(30, gt=0, le=3600)  # how often the proactive schedule is read

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone_or_error(value)
        return value


def zone_or_error(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError naming how to write one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin") from None


class LimitsSettings(_Strict):
    """Backpressure: how many messages may wait to be answered before the character says it is busy."""

    per_conversation: int = Field(10, ge=1)  # waiting behind the one being answered (as many as flood allows)
    total: int = Field(1000, ge=1)  # waiting or being answered, over all conversations (~10 KB each)


class Settings(_Strict):
    characters_dir: Path = Path("characters")
    reload_characters: bool = True  # an edited card takes effect on the next message (hot reload)
    default_character: str = "aiko"
    llm: LLMSettings = Field(default_factory=LLMSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    bots: BotsSettings = Field(default_factory=BotsSettings)
    casts: list[CastSettings] = Field(default_factory=list, max_length=1000)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    stt: SttSettings = Field(default_factory=SttSettings)
    images: ImagesSettings = Field(default_factory=ImagesSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    conversation: ConversationSettings = Field(default_factory=ConversationSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    studio: StudioSettings = Field(default_factory=StudioSettings)
    # None: INFO for `anima run` (each bot's start, waits, retries), WARNING for the other commands
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    # SIGTERM/SIGINT: replies in flight get this long to finish, then are cut (docker stop kills at 10 s)
    shutdown_grace_s: float = Field(7.0, ge=0)

    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _one_cast_per_chat(self) -> Settings:
        chats = [cast.chat for cast in self.casts]
        twice = sorted({chat for chat in chats if chats.count(chat) > 1})
        if twice:
            raise ValueError(f"casts: {twice[0]} has two casts; give each chat one")
        return self

    @model_validator(mode="after")
    def _stt_backend_exists(self) -> Settings:
        if self.stt.engine != "openai":
            return self
        backend = self.llm.backends.get(self.stt.backend)
        if not isinstance(backend, OpenAIBackend):
            known = ", ".join(n for n, b in self.llm.backends.items() if isinstance(b, OpenAIBackend))
            raise ValueError(
                f"stt.backend {self.stt.backend!r} must name an openai backend under llm.backends "
                f"(openai backends: {known or 'none'})"
            )
        return self

    def resolve(self, path: Path) -> Path:
        """Relative paths in a config are relative to the config file, not the working directory."""
        if path.is_absolute() or self.source is None:
            return path
        return self.source.parent / path

    @property
    def database_url(self) -> str:
        url = self.memory.database_url
        prefix = "sqlite+aiosqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve(Path(url.removeprefix(prefix))))
        return url


def interpolate(data: Any, doc: YamlDocument, env: dict[str, str], loc: list[str | int]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string; collect errors for unset variables."""
    if isinstance(data, dict):
        return {k: interpolate(v, doc, env, [*loc, k]) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, doc, env, [*loc, i]) for i, v in enumerate(data)]
    if not isinstance(data, str) or "${" not in data:
        return data
    for start in (m.start() for m in re.finditer(r"\$\{", data)):
        if not _VAR.match(data, start):
            fragment = re.match(r"\$\{[^}\s]{0,40}\}?", data[start:])
            shown = fragment.group(0) if fragment else "${"
            raise ConfigError(
                [doc.error(loc, f"malformed placeholder {shown!r}: write ${{NAME}} or ${{NAME:-default}}")]
            )

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            [doc.error(loc, f"environment variable {name} is not set (or write ${{{name}:-default}})")]
        )

    return _VAR.sub(substitute, data)


def config_path(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("ANIMA_CONFIG") or DEFAULT_CONFIG)


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load and validate the config; a missing default config.yaml means built-in defaults."""
    file = config_path(path)
    if path is None and not os.environ.get("ANIMA_CONFIG") and not file.exists():
        return Settings()
    return settings_of(read_yaml(file), dict(os.environ) if env is None else env)


def settings_of(doc: YamlDocument, env: dict[str, str]) -> Settings:
    """The settings a parsed config file holds (the studio checks a config it is about to write)."""
    raw = doc.data if doc.data is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError([doc.error([], "expected a mapping of settings at the top level")])
    data = interpolate(raw, doc, env, [])
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(doc, exc)) from None
    settings.source = doc.path.resolve()
    return settings


def _embedded_only() -> dict[str, EmbeddedBackend | OpenAIBackend]:
    return {"embedded": EmbeddedBackend(kind="embedded")}


def _espeak_only() -> list[VoiceEngine]:
    return ["espeak"]
