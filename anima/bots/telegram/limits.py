"""Telegram's flood limits, 429 waits and network retries, in one place: PTB's rate-limiter hook.

PTB passes every request except getUpdates through `process_request`, so callers never retry.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from anima.core.streaming import Pacer

log = logging.getLogger(__name__)

# Requests that do not post into a chat are not counted against the message limits.
UNCOUNTED = frozenset({"sendChatAction", "answerCallbackQuery", "getChatMember", "getChat", "getFile"})


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # int-vs-timedelta migration warning; both forms are handled
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class FloodLimits(BaseRateLimiter[int]):
    """Paces requests under Telegram's limits and retries what may be retried.

    - at most `per_second` messages per bot and `per_group_minute` per group, evenly spaced
      (0 turns one off);
    - a 429 waits `retry_after` and tries again, up to `max_attempts` tries in all: a reply is not
      dropped for a rate limit;
    - network errors and 5xx are retried with doubling waits (a timed-out send may have arrived, so
      a retry can duplicate it: Telegram has no idempotency key). 4xx errors are not retried.

    A call may pass `rate_limit_args=N` to allow N tries instead (1 for what is worth nothing
    late: typing actions, intermediate streaming edits). Once the bot is stopping, no wait may end
    later than `stop_grace_s` from then, so shutdown is bounded even with Telegram unreachable.
    """

    def __init__(
        self,
        per_second: float = 30,
        per_group_minute: float = 20,
        max_attempts: int = 8,
        first_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        stop_grace_s: float = 10.0,
    ) -> None:
        self.per_group_minute = per_group_minute
        self.max_attempts = max_attempts
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.stop_grace_s = stop_grace_s
        self._retry_until = float("inf")
        self._overall = Pacer(per_second, 1) if per_second else None
        self._groups: dict[int | str, Pacer] = {}

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def stopping(self) -> None:
        """The bot is stopping: in-flight requests get `stop_grace_s` more to succeed, no longer."""
        self._retry_until = asyncio.get_running_loop().time() + self.stop_grace_s

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        pacers = self._pacers(endpoint, data)
        max_attempts = rate_limit_args or self.max_attempts
        attempt = 1
        while True:
            try:
                for pacer in pacers:
                    await pacer.turn()
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc) + 0.1
                if attempt >= max_attempts or not self._may_wait(wait):
                    raise
                level = logging.INFO if attempt == 1 else logging.DEBUG  # a long wait is said once
                log.log(level, "Telegram asked to slow down on %s: waiting %.1f s", endpoint, wait)
            except NetworkError as exc:
                wait = min(self.first_backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
                if isinstance(exc, BadRequest) or attempt >= max_attempts or not self._may_wait(wait):
                    raise
                if attempt == 1:  # said once, in plain words; each later try only at DEBUG
                    log.info(
                        "Telegram is not answering (%s: %s); trying %d more times, waiting longer each time",
                        endpoint,
                        exc,
                        max_attempts - attempt,
                    )
                else:
                    log.debug("%s failed (%s): retrying in %.1f s", endpoint, exc, wait)
            attempt += 1
            await asyncio.sleep(wait)

    def _may_wait(self, wait: float) -> bool:
        return asyncio.get_running_loop().time() + wait <= self._retry_until

    def _pacers(self, endpoint: str, data: dict[str, Any]) -> list[Pacer]:
        chat_id = data.get("chat_id")
        if chat_id is None or endpoint in UNCOUNTED:
            return []
        # The group's slot first: waiting for it must not hold a slot of the whole bot.
        pacers = [self._group(chat_id)] if self.per_group_minute and _is_group(chat_id) else []
        if self._overall:
            pacers.append(self._overall)
        return pacers

    def _group(self, chat_id: int | str) -> Pacer:
        pacer = self._groups.get(chat_id)
        if pacer is None:
            if len(self._groups) > 1024:  # forget groups whose next slot is already free
                self._groups = {k: v for k, v in self._groups.items() if not v.idle()}
            pacer = self._groups[chat_id] = Pacer(self.per_group_minute, 60)
        return pacer


def _is_group(chat_id: Any) -> bool:
    """Group, supergroup and channel ids are negative; "@name" addresses a public group or channel."""
    if isinstance(chat_id, str):
        return chat_id.startswith("@") or (chat_id.lstrip("-").isdigit() and chat_id.startswith("-"))
    return isinstance(chat_id, int) and chat_id < 0
