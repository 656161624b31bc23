"""Flood control per user: past N messages in a window, one notice, then silence until it calms down.

Answering every message of a flood would double it; the first message over the limit gets a short
notice and the rest are dropped (and audited once per window, not once per message).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from anima.characters.macros import expand
from anima.core.messages import Incoming
from anima.safety.verdict import InputContext, Verdict

SLOW_DOWN = "*{{char}} holds up a hand* One at a time, please — give me a few seconds to catch up."
SLOW_DOWN_ZH = "*{{char}}举起手* 慢一点嘛，一条一条来——给我几秒钟跟上。"
MAX_TRACKED = 10_000  # users remembered at once; the stalest are forgotten first


class FloodControl:
    name = "flood"

    def __init__(self, messages: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.messages = messages
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[tuple[str, str], deque[float]] = {}
        self._warned: dict[tuple[str, str], float] = {}

    async def check_input(self, message: Incoming, context: InputContext) -> Verdict:
        now = self.clock()
        who = (message.platform, message.user_id)
        times = self._seen.pop(who, None) or deque()
        self._seen[who] = times  # re-inserted: the dict stays ordered from stalest to freshest
        while times and now - times[0] > self.window_s:
            times.popleft()
        if len(self._seen) > MAX_TRACKED:
            del self._seen[next(iter(self._seen))]
        if len(times) < self.messages:
            times.append(now)
            self._warned.pop(who, None)
            return Verdict("allow", message.text)
        if who in self._warned and now - self._warned[who] <= self.window_s:
            return Verdict("drop", "", "flood: dropped", self.name, "flood")
        self._warned[who] = now
        if len(self._warned) > MAX_TRACKED:
            del self._warned[next(iter(self._warned))]
        text = SLOW_DOWN_ZH if context.card.language.startswith("zh") else SLOW_DOWN
        reason = f"more than {self.messages} messages in {self.window_s:g} s"
        return Verdict("replace", expand(text, {"char": context.card.name}), reason, self.name, "flood")
