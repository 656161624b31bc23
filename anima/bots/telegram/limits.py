"""Telegram's flood limits and retries, through PTB's rate-limiter hook (PTB passes every request
but getUpdates through `process_request`, so callers never retry); the waits and retries themselves
are the core's (`anima.core.sending`): here only which Telegram errors are which."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from functools import partial
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from anima.core.sending import SendLimits, Transient

# Requests that do not post into a chat are not counted against the message limits.
UNCOUNTED = frozenset({"sendChatAction", "answerCallbackQuery", "getChatMember", "getChat", "getFile"})
ApiResult = bool | dict[str, Any] | list[dict[str, Any]]


def transient(exc: BaseException) -> Transient | None:
    """A 429 (with Telegram's wait), a network error or a 5xx; a 4xx is a refusal."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # int-vs-timedelta migration warning; both forms are handled
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            value = exc.retry_after
        return Transient(value.total_seconds() if isinstance(value, timedelta) else float(value))
    return Transient() if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest) else None


class FloodLimits(BaseRateLimiter[int]):
    """Telegram's limits (anima.core.sending.SendLimits): `per_second` messages per bot and
    `per_group_minute` per group. A call may pass `rate_limit_args=N` to allow N tries (1 for what
    is worth nothing late: typing, streaming edits)."""

    def __init__(self, per_second: float = 30, per_group_minute: float = 20) -> None:
        self.limits = SendLimits("Telegram", per_second, per_group_minute)
        self.retries = self.limits.retries

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, ApiResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> ApiResult:
        chat_id = data.get("chat_id")
        counted = chat_id is not None and endpoint not in UNCOUNTED
        group = chat_id if _is_group(chat_id) else None
        send = partial(callback, *args, **kwargs)  # one request, tried again as it is
        return await self.limits.send(send, transient, endpoint, counted, group, rate_limit_args)


def _is_group(chat_id: Any) -> bool:
    """Group, supergroup and channel ids are negative; "@name" addresses a public group or channel."""
    if isinstance(chat_id, str):
        return chat_id.startswith("@") or (chat_id.lstrip("-").isdigit() and chat_id.startswith("-"))
    return isinstance(chat_id, int) and chat_id < 0
