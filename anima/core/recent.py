"""What is remembered per chat or per message id, bounded: only the entries set most recently are
kept, however many chats or messages come."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(OrderedDict[K, V]):
    """A dict of at most `max_items` entries: the one set last is the newest; past the bound, the
    oldest is dropped."""

    def __init__(self, max_items: int) -> None:
        super().__init__()
        self.max_items = max_items

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        if len(self) > self.max_items:
            self.popitem(last=False)

    def first_time(self: Recent[K, None], key: K) -> bool:
        """True when `key` was not seen lately (it is remembered from now on), False when it was."""
        if key in self:
            return False
        self[key] = None
        return True
