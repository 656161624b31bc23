"""The character card schema: what a person writes in characters/<id>.yaml.

Fields that Character Card V2/V3 also has keep V2/V3 names, so an imported card reads like its
source. Optional V2/V3 fields are None when the source card lacks them: an export then leaves them
out, which keeps a V2 → YAML → V2 round trip lossless.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from anima.characters.limits import (
    MAX_ENTRIES_PER_LOREBOOK,
    MAX_FIELD_CHARS,
    MAX_KEY_CHARS,
    MAX_KEYS_PER_ENTRY,
    MAX_LOREBOOK_FILES,
)
from anima.core.messages import Role
from anima.yaml_source import describe_type

DEFAULT_SYSTEM_PROMPT = """\
You are {{char}}. Stay in character as {{char}} at all times; never say you are an AI model.
{{description}}
{{personality}}
{{scenario}}
{{rules}}
You are talking with {{user}}."""

DEFAULT_APOLOGY = (
    "*{{char}} blinks, lost for words* Sorry {{user}}, my thoughts drifted away. Could you say that again?"
)

DEFAULT_BUSY = (
    "*{{char}} is still answering your last messages* Give me a moment, {{user}} — one thing at a time."
)

MAX_TEXT = MAX_FIELD_CHARS  # characters in one field: far above any real card, far below a memory problem

CardText = Annotated[str, Field(max_length=MAX_TEXT)]
Key = Annotated[str, Field(max_length=MAX_KEY_CHARS)]


DEFAULT_TALKATIVENESS = 0.5  # SillyTavern's


def tavern_talkativeness(value: Any) -> float | None:
    """SillyTavern's talkativeness (a number, or one as text: "0.5"); None when neither, or not in 0-1."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 <= number <= 1 else None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _text_or_texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, list):
        bad = next((v for v in value if not isinstance(v, str)), None)
        got = "an empty list" if not value else f"a list containing {describe_type(bad)}"
        raise ValueError(f"expected text or a list of texts, got {got}")
    raise ValueError(f"expected text or a list of texts, got {describe_type(value)}")


class ExampleExchange(_Strict):
    """One example exchange: what the user says and how the character answers."""

    user: CardText
    char: CardText


class CardLLM(_Strict):
    """Per-card overrides of the backend's generation settings."""

    backend: str | None = None
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: list[str] = Field(default_factory=list)


class CardVoice(_Strict):
    """How the character sounds in voice notes (anima/voice); `language` defaults to the card's."""

    engine: Literal["espeak", "openai", "piper"] = "espeak"
    voice: str | None = None  # the engine's voice name: espeak "en-us"/"cmn", openai "nova", piper .onnx
    language: str | None = None
    speed: float = Field(1.0, gt=0.25, le=4.0)
    pitch: float = Field(1.0, gt=0.25, le=4.0)
    mode: Literal["text", "voice", "both"] = "both"  # what a chat with /voice on gets

    @model_validator(mode="after")
    def _piper_voice_is_a_file_name(self) -> CardVoice:
        # a card may only pick among the voices the operator put in voice.piper.voices_dir
        if self.engine == "piper" and self.voice is not None:
            path = Path(self.voice)
            if path.is_absolute() or ".." in path.parts or "\\" in self.voice:
                raise ValueError(
                    f"voice: {self.voice[:80]!r}: a piper voice is a file name inside voice.piper.voices_dir "
                    "(e.g. en_US-amy-medium.onnx), not a path out of it"
                )
        return self


class CardSafety(_Strict):
    """Safety settings, used by the safety issue."""

    rating: Literal["general", "teen", "mature"] = "general"
    blocked_topics: list[str] = Field(default_factory=list)
    refusals: list[str] = Field(default_factory=list)


SoulKind = Literal["backstory", "habit", "opinion", "relationship"]
SOUL_KINDS: tuple[SoulKind, ...] = ("backstory", "habit", "opinion", "relationship")


class CardGrowth(_Strict):
    """How the character grows from its conversations (anima/soul): off unless the card turns it on.

    propose: every change waits for the owner's approval. auto: changes of `kinds` with at least
    `min_confidence` apply by themselves, at most `max_per_day`; the rest wait. `protected` kinds
    never change, not even by approval.
    """

    mode: Literal["off", "propose", "auto"] = "off"
    kinds: list[SoulKind] = Field(default_factory=lambda: list(SOUL_KINDS))
    max_per_day: int = Field(3, ge=0)
    min_confidence: float = Field(0.7, ge=0, le=1)
    protected: list[SoulKind] = Field(default_factory=list)
    review_every: int = Field(20, ge=1)  # a conversation's user messages between two reviews
    tokens: int = Field(300, ge=0)  # the learned layer's own budget in the prompt


IDLE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_IDLE = timedelta(days=365)
MAX_OPENINGS = 50


def parse_idle(value: str) -> timedelta:
    """ "30s", "10m", "6h", "2d" as a duration; ValueError saying how to write one."""
    found = re.fullmatch(r"\s*(\d{1,6})\s*([smhd])\s*", value)
    if found is None:
        raise ValueError(f"expected a duration like 30s, 10m, 6h or 2d, got {value!r}")
    idle = timedelta(seconds=int(found[1]) * IDLE_UNITS[found[2]])
    if not timedelta(seconds=1) <= idle <= MAX_IDLE:
        raise ValueError(f"expected a duration between 1s and 365d, got {value!r}")
    return idle


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """ "22:00-08:00" as (start, end); "" for none; ValueError saying how to write them."""
    if not value.strip():
        return None
    found = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    hours = [int(part) for part in found.groups()] if found else []
    if not hours or hours[0] > 23 or hours[2] > 23 or hours[1] > 59 or hours[3] > 59:
        raise ValueError(f'expected quiet hours like "22:00-08:00" (24-hour clock), got {value!r}')
    return time(hours[0], hours[1]), time(hours[2], hours[3])


class CardProactive(_Strict):
    """Whether the character may write first to a person who turned it on with /proactive on: after
    `after_idle` of silence, at most `max_per_day`, never in `quiet_hours` (the person's time)."""

    enabled: bool = False
    after_idle: str = "6h"  # 30s, 10m, 6h, 2d
    max_per_day: int = Field(2, ge=0, le=48)
    quiet_hours: str = "22:00-08:00"  # "" for none
    openings: list[CardText] = Field(default_factory=list, max_length=MAX_OPENINGS)  # {{user}}, {{char}}

    _check_idle = field_validator("after_idle")(lambda cls, v: (parse_idle(v), v)[1])
    _check_quiet = field_validator("quiet_hours")(lambda cls, v: (parse_quiet_hours(v), v)[1])

    @property
    def idle(self) -> timedelta:
        return parse_idle(self.after_idle)

    @property
    def quiet(self) -> tuple[time, time] | None:
        return parse_quiet_hours(self.quiet_hours)


class CardAsset(_Strict):
    """A V3 asset: an icon, background or emotion image, by URI (https://, data:, embeded://, ccdefault:)."""

    type: str
    uri: str
    name: str
    ext: str


SelectiveLogic = Literal["and_any", "and_all", "not_any", "not_all"]
Position = Literal["before_char", "after_char", "at_depth"]


class LorebookEntry(_Strict):
    """One world-info entry: when a key appears in recent messages, `content` goes into the prompt."""

    keys: list[Key] = Field(default_factory=list, max_length=MAX_KEYS_PER_ENTRY)
    # checked with selective_logic when `selective` is on
    secondary_keys: list[Key] | None = Field(None, max_length=MAX_KEYS_PER_ENTRY)
    content: CardText
    enabled: bool = True
    insertion_order: int = 100  # lower goes higher in the prompt
    constant: bool | None = None  # always inserted (within the token budget)
    selective: bool | None = None
    selective_logic: SelectiveLogic | None = None  # default and_any
    case_sensitive: bool | None = None  # default false
    match_whole_words: bool | None = None  # default true
    use_regex: bool | None = None  # keys are regular expressions; /pattern/flags works too
    position: Position | None = None  # default before_char
    depth: int | None = Field(None, ge=0)  # for at_depth: 0 is after the newest message
    role: Role | None = None  # for at_depth; default system
    scan_depth: int | None = Field(None, ge=0)  # overrides the lorebook's
    priority: int | None = None  # lower gives way first when over the token budget
    exclude_recursion: bool | None = None  # only the chat can trigger it, not other entries
    prevent_recursion: bool | None = None  # its content triggers no other entry
    name: str | None = None
    comment: str | None = None
    id: int | str | None = None
    extensions: dict[str, Any] = Field(default_factory=dict)
    unknown_fields: dict[str, Any] = Field(default_factory=dict)  # kept from the source card for export


class Lorebook(_Strict):
    """World info: V2 `character_book`, V3 `lorebook_v3`; in a card or in a shared file."""

    name: str | None = None
    description: str | None = None
    scan_depth: int | None = Field(None, ge=0)  # messages scanned, the newest one included; default 2
    token_budget: int | None = Field(None, ge=0)  # default: a quarter of the prompt budget
    recursive_scanning: bool | None = None  # default false
    max_recursion_steps: int | None = Field(None, ge=0)  # Anima's own; default 3
    extensions: dict[str, Any] = Field(default_factory=dict)
    entries: list[LorebookEntry] = Field(default_factory=list, max_length=MAX_ENTRIES_PER_LOREBOOK)
    unknown_fields: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_ids(self) -> Lorebook:
        seen: set[int | str] = set()
        for entry in self.entries:
            if entry.id is not None and entry.id in seen:
                raise ValueError(f"two entries have id {entry.id!r}; every entry id must be unique")
            if entry.id is not None:
                seen.add(entry.id)
        return self


class CharacterCard(_Strict):
    """A character: persona, behaviour rules, greeting, examples, lorebook and per-card settings."""

    id: str = Field("", exclude=True)
    name: str = Field(min_length=1, max_length=1000)
    description: CardText
    personality: CardText = ""
    scenario: CardText = ""
    backstory: CardText = ""
    rules: list[CardText] = Field(default_factory=list)
    greeting: list[str]  # V2 first_mes, then alternate_greetings
    group_greetings: list[str] | None = None  # V3 group_only_greetings: said when a cast starts in a chat
    # how readily it speaks up in a cast (0-1; SillyTavern's extensions.talkativeness, default 0.5)
    talkativeness: float | None = Field(None, ge=0, le=1)
    example_dialogue: list[ExampleExchange] = Field(default_factory=list)  # V2 mes_example, parsed
    mes_example: CardText | None = (
        None  # V2 example text kept as written when it does not parse into exchanges
    )
    system_prompt: CardText = DEFAULT_SYSTEM_PROMPT
    post_history_instructions: CardText = ""
    apology: list[str] = Field(default_factory=lambda: [DEFAULT_APOLOGY])
    busy: list[str] = Field(default_factory=lambda: [DEFAULT_BUSY])  # too many messages waiting
    appearance: CardText = ""  # how the character looks (face, hair, style): what /selfie is made of
    no_vision: CardText = ""  # told to a backend without vision when a picture comes ({{user}}, {{char}})
    language: str = "en"
    tags: list[str] = Field(default_factory=list)
    lorebook: Lorebook | None = None  # V2 character_book
    # shared lorebook files, relative to the card (inside its folder)
    lorebooks: list[str] = Field(default_factory=list, max_length=MAX_LOREBOOK_FILES)
    avatar: str | None = None  # an image file next to the card (inside its folder)
    nickname: str | None = None  # V3: {{char}} says this instead of the name
    creator: str = ""
    character_version: str = ""
    creator_notes: CardText = ""  # for people reading the card; never sent to the model
    creator_notes_multilingual: dict[str, CardText] | None = None
    source: list[str] | None = None
    creation_date: int | None = None  # unix seconds (V3)
    modification_date: int | None = None
    assets: list[CardAsset] | None = None
    extensions: dict[str, Any] = Field(default_factory=dict)  # other apps' data, kept verbatim
    unknown_fields: dict[str, Any] = Field(default_factory=dict)  # kept from the source card for export
    llm: CardLLM = Field(default_factory=CardLLM)
    voice: CardVoice = Field(default_factory=CardVoice)
    safety: CardSafety = Field(default_factory=CardSafety)
    growth: CardGrowth = Field(default_factory=CardGrowth)  # learning from conversations (anima/soul)
    proactive: CardProactive = Field(default_factory=CardProactive)  # writing first (docs/social.md)

    _linked_lorebooks: list[Lorebook] = PrivateAttr(default_factory=list)  # from `lorebooks`, by the loader
    _linked_files: set[Path] = PrivateAttr(default_factory=set)

    _check_texts = field_validator("greeting", "apology", "busy", mode="before")(
        lambda cls, v: _text_or_texts(v)
    )

    @property
    def char_name(self) -> str:
        """What {{char}} stands for: the V3 nickname when there is one."""
        return self.nickname or self.name

    @property
    def speaks_up(self) -> float:
        """Its talkativeness: the card's own, else SillyTavern's as imported (in extensions), else 0.5."""
        if self.talkativeness is not None:
            return self.talkativeness
        imported = tavern_talkativeness(self.extensions.get("talkativeness"))
        return DEFAULT_TALKATIVENESS if imported is None else imported

    @property
    def all_lorebooks(self) -> list[Lorebook]:
        """The card's own lorebook first, then the shared files it names (loaded by the library)."""
        own = [self.lorebook] if self.lorebook is not None else []
        return own + self._linked_lorebooks
