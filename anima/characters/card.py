"""The character card schema: what a person writes in characters/<id>.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

    user: str
    char: str


class CardLLM(_Strict):
    """Per-card overrides of the backend's generation settings."""

    backend: str | None = None
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: list[str] = Field(default_factory=list)


class CardVoice(_Strict):
    """Voice settings, used by the voice issue; validated now so cards stay forward-compatible."""

    engine: Literal["espeak", "openai", "piper"] = "espeak"
    voice: str | None = None
    language: str | None = None
    speed: float = Field(1.0, gt=0.25, le=4.0)
    pitch: float = Field(1.0, gt=0.25, le=4.0)


class CardSafety(_Strict):
    """Safety settings, used by the safety issue."""

    rating: Literal["general", "teen", "mature"] = "general"
    blocked_topics: list[str] = Field(default_factory=list)
    refusals: list[str] = Field(default_factory=list)


class CharacterCard(_Strict):
    """A character: persona, behaviour rules, greeting, examples, and per-card settings."""

    id: str = Field("", exclude=True)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    personality: str = ""
    scenario: str = ""
    backstory: str = ""
    rules: list[str] = Field(default_factory=list)
    greeting: list[str]
    example_dialogue: list[ExampleExchange] = Field(default_factory=list)
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    post_history_instructions: str = ""
    apology: list[str] = Field(default_factory=lambda: [DEFAULT_APOLOGY])
    language: str = "en"
    tags: list[str] = Field(default_factory=list)
    llm: CardLLM = Field(default_factory=CardLLM)
    voice: CardVoice = Field(default_factory=CardVoice)
    safety: CardSafety = Field(default_factory=CardSafety)

    _check_texts = field_validator("greeting", "apology", mode="before")(lambda cls, v: _text_or_texts(v))
