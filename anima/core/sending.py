"""Sending to a platform, written once for every platform: requests paced under its limits, a failure
worth another try retried with a cap, what is still not taken after every try turned into
`NotDelivered` (the message stays in the inbox and is answered at the next start), and a second
sender taking over when the platform refuses the first before anything went out (`Fallback`).

A platform's sender only says which of its errors are which (`Transient`); it never loops itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from anima.errors import NotDelivered

log = logging.getLogger(__name__)
T = TypeVar("T")
S = TypeVar("S")  # a platform's sender: who a message goes out as
MAX_PACED_CHATS = 1024


@dataclass(frozen=True)
class Transient:
    """A failure worth another try. `retry_after_s`: the platform's own wait (a rate limit);
    None for a network error or a 5xx, retried with doubling waits."""

    retry_after_s: float | None = None


Classify = Callable[[BaseException], Transient | None]  # None: a refusal, never retried


class Pacer:
    """`count` per `period_s`, evenly spaced: each caller takes the next free slot, so no window of
    `period_s` sees more than count + 1 (a token bucket of `count` would allow twice that)."""

    def __init__(self, count: float, period_s: float) -> None:
        self.interval = period_s / count
        self._next = 0.0

    async def turn(self) -> None:
        now = asyncio.get_running_loop().time()
        at = max(now, self._next)
        self._next = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)

    def idle(self) -> bool:
        return self._next <= asyncio.get_running_loop().time()


class ChatPacers:
    """One `Pacer` per chat (e.g. 20 messages a minute in each group), forgetting idle chats."""

    def __init__(self, count: float, period_s: float) -> None:
        self.count, self.period_s = count, period_s
        self._chats: dict[Hashable, Pacer] = {}

    def __getitem__(self, chat: Hashable) -> Pacer:
        pacer = self._chats.get(chat)
        if pacer is None:
            if len(self._chats) > MAX_PACED_CHATS:  # forget chats whose next slot is already free
                self._chats = {k: v for k, v in self._chats.items() if not v.idle()}
            pacer = self._chats[chat] = Pacer(self.count, self.period_s)
        return pacer


@dataclass
class RetryPolicy:
    """Tries a request until it is taken, up to `max_attempts` tries in all.

    - a rate limit waits what the platform asked, then tries again: a reply is not dropped for it;
    - a network error or 5xx is retried with doubling waits, from `first_backoff_s` up to
      `max_backoff_s` (a timed-out send may have arrived, so a retry can duplicate it);
    - a refusal (`classify` says None) is raised at once.

    Once the bot is stopping, no wait may end later than `stop_grace_s` from then, so shutdown is
    bounded even with the platform unreachable.
    """

    platform: str
    max_attempts: int = 8
    first_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    stop_grace_s: float = 10.0
    _retry_until: float = field(default=float("inf"), init=False)

    def stopping(self) -> None:
        """The bot is stopping: requests in flight get `stop_grace_s` more to succeed, no longer."""
        self._retry_until = asyncio.get_running_loop().time() + self.stop_grace_s

    async def run(
        self, call: Callable[[], Awaitable[T]], classify: Classify, what: str, max_attempts: int | None = None
    ) -> T:
        """`call` until it returns; `max_attempts` (1: what is worth nothing late) overrides the policy's."""
        attempts = max_attempts or self.max_attempts
        attempt = 1
        while True:
            try:
                return await call()
            except Exception as exc:
                transient = classify(exc)
                if transient is None:
                    raise
                wait = self._wait(transient, attempt)
                if attempt >= attempts or asyncio.get_running_loop().time() + wait > self._retry_until:
                    raise
                self._say(transient, what, exc, attempt, attempts, wait)
            attempt += 1
            await asyncio.sleep(wait)

    def _wait(self, transient: Transient, attempt: int) -> float:
        if transient.retry_after_s is not None:
            return transient.retry_after_s + 0.1
        return min(self.first_backoff_s * 2.0 ** (attempt - 1), self.max_backoff_s)

    def _say(
        self, transient: Transient, what: str, exc: BaseException, attempt: int, attempts: int, wait: float
    ) -> None:
        """Said once per request, in plain words; each later try only at DEBUG."""
        if attempt > 1:
            log.debug("%s failed (%s): retrying in %.1f s", what, type(exc).__name__, wait)
        elif transient.retry_after_s is not None:
            log.info("%s asked to slow down on %s: waiting %.1f s", self.platform, what, wait)
        else:
            log.info(
                "%s is not answering (%s: %s); trying %d more times, waiting longer each time",
                self.platform,
                what,
                type(exc).__name__,
                attempts - attempt,
            )


class SendLimits:
    """A bot's limits on what it posts: at most `per_second` messages for the whole bot and
    `per_group_minute` in each group, evenly spaced (0 turns one off), each try paced, and the
    retries of a `RetryPolicy`. A request that posts into no chat is not counted."""

    def __init__(self, platform: str, per_second: float, per_group_minute: float) -> None:
        self.retries = RetryPolicy(platform)
        self._overall = Pacer(per_second, 1) if per_second else None
        self._groups = ChatPacers(per_group_minute, 60) if per_group_minute else None

    async def send(
        self,
        call: Callable[[], Awaitable[T]],
        classify: Classify,
        what: str,
        counted: bool = True,
        group: Hashable | None = None,
        max_attempts: int | None = None,
    ) -> T:
        """`call` under the limits (`group`: the group it posts into, None for a private chat)."""
        # The group's slot first: waiting for it must not hold a slot of the whole bot.
        pacers = [self._groups[group]] if counted and self._groups and group is not None else []
        pacers += [self._overall] if counted and self._overall else []

        async def attempt() -> T:
            for pacer in pacers:
                await pacer.turn()
            return await call()

        return await self.retries.run(attempt, classify, what, max_attempts)


@asynccontextmanager
async def delivering(platform: str, classify: Classify) -> AsyncIterator[None]:
    """A failure `classify` calls transient (left after every retry) becomes NotDelivered: the message
    stays in the inbox. The library's text is never passed on (it may quote the request, and the
    request the bot's token)."""
    try:
        yield
    except Exception as exc:
        if classify(exc) is None:
            raise
        raise NotDelivered(f"{platform} did not take it ({type(exc).__name__})") from None


class Fallback(Generic[S]):
    """Who a reply goes out as, and who instead when the platform refuses that sender before anything
    went out through it (Discord: a character's webhook deleted meanwhile; then the bot speaks for the
    character). Once something went out, a refusal is raised: a reply never changes speaker halfway."""

    def __init__(self, sender: S, fallback: S | None, refused: Callable[[BaseException], bool]) -> None:
        self.sender, self.fallback, self.refused = sender, fallback, refused
        self.sent = False

    async def send(self, call: Callable[[S, bool], Awaitable[T]]) -> T:
        """`call(sender, False)`; when refused first, `call(fallback, True)` (True: it took over)."""
        try:
            result = await call(self.sender, False)
        except Exception as exc:
            if self.sent or self.fallback is None or not self.refused(exc):
                raise
            log.warning("the platform refused the sender (%s); its fallback speaks", type(exc).__name__)
            self.sender, self.fallback = self.fallback, None
            result = await call(self.sender, True)
        self.sent = True
        return result


def speaking(
    own: bool,
    name: str,
    as_bot: Callable[[str | None], S],
    persona: S | None,
    refused: Callable[[BaseException], bool],
) -> Fallback[S]:
    """Who a character speaks as in a chat: the bot's own character as the bot; another under its own
    name where the platform gives it an identity (`persona`: a Discord webhook), else as the bot
    naming it (`as_bot(name)`), which also takes over when the persona is refused first."""
    if own:
        return Fallback(as_bot(None), None, refused)
    named = as_bot(name)
    return Fallback(named, None, refused) if persona is None else Fallback(persona, named, refused)


class Outage:
    """Says that a platform cannot be reached once per outage, then every `remind_s` while it lasts
    (the library retries by itself); a failure `over_s` after the last one starts a new outage."""

    def __init__(self, name: str, over_s: float = 60.0, remind_s: float = 300.0) -> None:
        self.name, self.over_s, self.remind_s = name, over_s, remind_s
        self._last = self._since = self._said = -1e9  # time.monotonic()

    def failed(self, platform: str, exc: BaseException) -> None:
        now, why = time.monotonic(), type(exc).__name__  # its text may quote the request's URL
        if now - self._last > self.over_s:
            self._since = self._said = now
            log.info("%s: cannot reach %s (%s); trying again until it answers", self.name, platform, why)
        elif now - self._said > self.remind_s:
            self._said = now
            minutes = (now - self._since) / 60
            log.warning("%s: %s unreachable for %.0f minutes: %s", self.name, platform, minutes, why)
        else:
            log.debug("%s: %s failed, retrying: %s", self.name, platform, why)
        self._last = now
