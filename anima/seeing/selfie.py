"""Pictures characters send of themselves: `/selfie [scene]`, or asked for in plain words (images.auto).

A picture is made by an OpenAI-compatible `POST /images/generations` (images.backend names a backend
under llm.backends, whose base_url and key are used) from the card's `appearance`, the scene and the
card's rating. The scene passes the input checks first. Each person gets images.per_person_per_day
new pictures a day (counted in memory's preferences, so a restart does not reset it); the same
request on the same day is answered with the picture already made, which costs nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import json
import logging
import re
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from anima.characters.card import CharacterCard
from anima.config import ImagesSettings, LLMSettings, OpenAIBackend
from anima.core.messages import Incoming
from anima.core.surface import Surface
from anima.errors import ImageError
from anima.llm.openai_backend import openai_client
from anima.memory.store import MemoryStore
from anima.safety import SafetyPolicy
from anima.seeing.picture import pillow

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

COUNT_KEY = "pictures_made"  # a person's preference: {"day": "2026-12-01", "made": 3}
MAX_SCENE_CHARS = 300
MAX_PICTURE_BYTES = 20_000_000  # what an images server may send back
RATING_LINES = {
    "general": "Safe for work: fully clothed, friendly, nothing violent or suggestive.",
    "teen": "Nothing explicit, nothing gory.",
    "mature": "Tasteful; nothing explicit.",
}
# "send me a picture of you at the beach", "can you show me a selfie?", "take a photo of yourself"
ASKED = re.compile(
    r"\b(?:send|show|take|share|snap|make)\b(?:\s+me)?\s+(?:an?\s+|another\s+|one\s+more\s+)?"
    r"(?:picture|photo|pic|selfie|photograph|image)s?\b"
    r"(?:\s+of\s+(?:yourself|you)\b)?(?P<scene>[^?.!\n]*)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Made:
    """A picture made (or reused from today's cache) for a person."""

    name: str
    png: bytes
    caption: str
    reused: bool


def asked_for(text: str) -> str | None:
    """The scene of a request in plain words ("at the beach"), "" for none given; None when the text
    asks for no picture of the character."""
    found = ASKED.search(text)
    if found is None:
        return None
    words = text.lower()
    if "selfie" not in words and not re.search(r"\b(?:you|yourself)\b", words):
        return None  # "send me a picture of the menu" is not a picture of the character
    scene = re.sub(r"[\s,]*\bplease\b[\s,]*$", "", found.group("scene"), flags=re.IGNORECASE)
    return scene.strip(" ,:;")


def prompt_for(card: CharacterCard, scene: str) -> str:
    """What the images model is asked for: the card's look, the scene, what its rating allows."""
    appearance = " ".join(card.appearance.split())
    where = scene or "a casual selfie, smiling at the camera"
    rating = RATING_LINES[card.safety.rating]
    return f"A photo of {card.name}. {appearance.rstrip('.')}. Scene: {where}. {rating} No text or logos."


class Selfies:
    """`conversations.Photographer` and what /selfie calls: pictures of the character, capped and cached."""

    def __init__(
        self,
        settings: ImagesSettings,
        llm: LLMSettings,
        memory: MemoryStore,
        safety: SafetyPolicy,
        resolve: Any = Path,  # Settings.resolve: a config-relative path made absolute
    ) -> None:
        self.settings = settings
        self.llm = llm
        self.memory = memory
        self.safety = safety
        self.cache_dir: Path = resolve(settings.cache_dir)
        self._client: openai.AsyncOpenAI | None = None
        self._counting = asyncio.Lock()  # a person's count is read and raised as one step

    async def answer(self, message: Incoming, surface: Surface, card: CharacterCard) -> bool:
        """With images.auto: a message asking for a picture of the character gets one (True); any
        other message is left to the pipeline (False)."""
        if not self.settings.auto or message.images:
            return False
        scene = asked_for(message.text)
        if scene is None:
            return False
        try:
            async with surface.showing("typing"):
                made = await self.make(card, message, scene)
        except ImageError as exc:
            await surface.send_text(f"📷 {card.name} can't send a picture now: {str(exc).rstrip('.')}.")
            return True
        await surface.send_file(made.name, made.png, made.caption, photo=True)
        return True

    async def make(self, card: CharacterCard, message: Incoming, scene: str) -> Made:
        """A picture of the character in `scene`, or ImageError saying why not."""
        if not card.appearance.strip():
            raise ImageError(f"{card.name}'s card does not say how they look (appearance:)")
        if self.settings.per_person_per_day == 0:
            raise ImageError("pictures are turned off here (images.per_person_per_day is 0)")
        scene = " ".join(scene.split())[:MAX_SCENE_CHARS]
        if scene:
            turn = await self.safety.begin(replace(message, text=scene, images=()), card)
            # Stricter than for a chat turn: a scene any check flagged (an injection, a crisis, a
            # blocked topic) is not drawn at all; only a redaction is drawn as redacted.
            if turn.input.action not in ("allow", "redact") or turn.input.instruction:
                raise ImageError("that scene is not something I can make a picture of")
            scene = turn.input.text
        day = datetime.now(UTC).date().isoformat()
        prompt = prompt_for(card, scene)
        key = hashlib.sha256(
            json.dumps([card.id, prompt, self.settings.model, self.settings.size]).encode()
        ).hexdigest()[:32]
        cached = self.cache_dir / day / f"{key}.png"
        caption = f"📷 {card.name}" + (f" — {scene}" if scene else "")
        name = f"{card.id}-{key[:8]}.png"
        if cached.is_file():
            return Made(name, await asyncio.to_thread(cached.read_bytes), caption, reused=True)
        async with self._counting:
            made = await self._made_today(message, day)
            if made >= self.settings.per_person_per_day:
                raise ImageError(f"that was {made} today, as many as I send a day; ask me again tomorrow")
            await self._count(message, day, made + 1)
        try:
            png = await self._generate(prompt)
        except ImageError:
            async with self._counting:  # nothing was made: it does not count
                await self._count(message, day, max(await self._made_today(message, day) - 1, 0))
            raise
        await asyncio.to_thread(self._keep, cached, png)
        return Made(name, png, caption, reused=False)

    async def _made_today(self, message: Incoming, day: str) -> int:
        value = await self.memory.get_preference(message.platform, "", COUNT_KEY, message.user_id)
        return int(value["made"]) if isinstance(value, dict) and value.get("day") == day else 0

    async def _count(self, message: Incoming, day: str, made: int) -> None:
        value = {"day": day, "made": made}
        await self.memory.set_preference(message.platform, "", COUNT_KEY, value, message.user_id)

    def _keep(self, path: Path, png: bytes) -> None:
        """Today's pictures are kept for the same request; earlier days' folders go."""
        if self.cache_dir.is_dir():
            for old in self.cache_dir.iterdir():
                if old.is_dir() and old.name != path.parent.name:
                    shutil.rmtree(old, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)

    def _backend(self) -> OpenAIBackend:
        backend = self.llm.backends.get(self.settings.backend)
        if not isinstance(backend, OpenAIBackend):
            raise ImageError(
                f"no pictures can be made: images.backend {self.settings.backend!r} is not an "
                "OpenAI-compatible backend under llm.backends"
            )
        return backend

    async def _generate(self, prompt: str) -> bytes:
        import openai  # ~50 MB of client, loaded with the first picture rather than with every runtime

        backend = self._backend()
        if self._client is None:
            timeout = openai.Timeout(self.settings.timeout_s, connect=backend.connect_timeout_s)
            self._client = openai_client(backend, max_retries=1, timeout=timeout)
        extra: dict[str, Any] = {}
        if self.settings.model.startswith("dall-e"):  # gpt-image-1 always answers base64, refuses this
            extra["response_format"] = "b64_json"
        try:
            response = await self._client.images.generate(
                model=self.settings.model,
                prompt=prompt,
                size=cast(Any, self.settings.size),
                n=1,
                **extra,
            )
        except openai.APIStatusError as exc:
            log.warning("images server answered HTTP %s", exc.status_code)
            refused = exc.status_code == 400  # OpenAI's content policy refusals are 400s
            raise ImageError(
                "the picture was refused by the images server"
                if refused
                else f"the images server answered HTTP {exc.status_code}"
            ) from exc
        except openai.APIError as exc:
            log.warning("images server unreachable: %s", type(exc).__name__)
            raise ImageError("the images server could not be reached") from exc
        encoded = response.data[0].b64_json if response.data else None
        if not encoded or len(encoded) > MAX_PICTURE_BYTES * 4 // 3 + 4:
            raise ImageError("the images server sent no picture back")
        try:
            png = base64.b64decode(encoded, validate=True)
            with pillow().open(io.BytesIO(png)) as check:  # the header only: it is a picture
                check.verify()
        except (binascii.Error, OSError, SyntaxError) as exc:  # UnidentifiedImageError is an OSError
            raise ImageError("the images server sent something that is not a picture") from exc
        return png

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
