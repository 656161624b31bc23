"""PNG text chunks: read the card a PNG carries (`chara`, `ccv3`), write it back, make a plain image."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from anima.characters.limits import MAX_INFLATED_BYTES, MAX_PNG_CHUNKS
from anima.errors import PngError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_KEYWORDS = ("ccv3", "chara")  # in order of preference: V3 wins when both exist
_TEXT_TYPES = (b"tEXt", b"iTXt", b"zTXt")
# Only card chunks are ever inflated, and all of them together within MAX_INFLATED_BYTES (zip bombs);
# the image itself (IDAT) is kept as it came and never decompressed.
MAX_INFLATED = MAX_INFLATED_BYTES


@dataclass(frozen=True)
class Chunk:
    kind: bytes
    data: bytes

    def encode(self) -> bytes:
        crc = zlib.crc32(self.kind + self.data)
        return struct.pack(">I", len(self.data)) + self.kind + self.data + struct.pack(">I", crc)


def is_png(data: bytes) -> bool:
    return data.startswith(SIGNATURE)


def read_chunks(data: bytes) -> list[Chunk]:
    """Every chunk up to IEND; a truncated or corrupt file is a PngError naming the byte offset."""
    if not is_png(data):
        raise PngError("not a PNG file (the PNG signature is missing)")
    chunks: list[Chunk] = []
    offset = len(SIGNATURE)
    while True:
        if offset + 8 > len(data):
            raise PngError(f"truncated PNG: the file ends at byte {len(data)} before the IEND chunk")
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        end = offset + 8 + length + 4
        if end > len(data):
            raise PngError(
                f"truncated PNG: the {kind.decode('latin-1')!r} chunk at byte {offset} needs {length} bytes "
                f"but the file ends at byte {len(data)}"
            )
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise PngError(
                f"corrupt PNG: the {kind.decode('latin-1')!r} chunk at byte {offset} fails its CRC"
            )
        chunks.append(Chunk(kind, body))
        if len(chunks) > MAX_PNG_CHUNKS:
            raise PngError(f"more than {MAX_PNG_CHUNKS:,} chunks: not a card image; save the PNG again")
        if kind == b"IEND":
            return chunks
        offset = end


def keyword_of(chunk: Chunk) -> str | None:
    """The keyword of a tEXt/zTXt/iTXt chunk (read without inflating anything), None for other chunks."""
    if chunk.kind not in _TEXT_TYPES or b"\0" not in chunk.data[:80]:
        return None
    return chunk.data.split(b"\0", 1)[0].decode("latin-1")


def text_of(chunk: Chunk, budget: list[int] | None = None) -> tuple[str, str] | None:
    """(keyword, text) of a tEXt/zTXt/iTXt chunk, None for other chunks. A compressed one inflates
    within `budget` ([bytes left], shared by the chunks of one file; MAX_INFLATED when None)."""
    name = keyword_of(chunk)
    if name is None:
        return None
    left = budget if budget is not None else [MAX_INFLATED]
    rest = chunk.data.split(b"\0", 1)[1]
    if chunk.kind == b"tEXt":
        return name, rest.decode("latin-1")
    if chunk.kind == b"zTXt":
        return name, _inflate(rest[1:], name, left).decode("latin-1")
    compressed, rest = rest[:1] == b"\1", rest[2:]  # iTXt: flag, method, language\0, translated\0, text
    parts = rest.split(b"\0", 2)
    if len(parts) < 3:
        return None
    body = _inflate(parts[2], name, left) if compressed else parts[2]
    return name, body.decode("utf-8", errors="replace")


def _inflate(data: bytes, name: str, budget: list[int]) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, budget[0] + 1)
    except zlib.error as exc:
        raise PngError(f"the {name!r} text chunk is not valid compressed data: {exc}") from None
    budget[0] -= len(out)
    if budget[0] < 0 or inflater.unconsumed_tail:
        raise PngError(
            f"the {name!r} text chunk inflates past {MAX_INFLATED // 2**20} MiB, the most all text chunks "
            "of a card PNG may inflate to together; save the card with uncompressed (tEXt) chunks"
        )
    return out


def card_texts(chunks: list[Chunk]) -> dict[str, str]:
    """The card chunks (keyword lower-cased, as SillyTavern reads them): {"ccv3": …, "chara": …}.

    Other text chunks are never inflated; the card chunks share one inflate budget."""
    found: dict[str, str] = {}
    budget = [MAX_INFLATED]
    for chunk in chunks:
        keyword = keyword_of(chunk)
        if keyword is None or keyword.lower() not in CARD_KEYWORDS or keyword.lower() in found:
            continue
        pair = text_of(chunk, budget)
        if pair:
            found[pair[0].lower()] = pair[1]
    return found


def with_texts(chunks: list[Chunk], texts: dict[str, str]) -> bytes:
    """The image with every old card chunk removed and `texts` added as tEXt chunks before IEND."""
    kept = [c for c in chunks if not _is_card_chunk(c) and c.kind != b"IEND"]
    added = [
        Chunk(b"tEXt", key.encode("latin-1") + b"\0" + text.encode("latin-1")) for key, text in texts.items()
    ]
    return SIGNATURE + b"".join(c.encode() for c in [*kept, *added, Chunk(b"IEND", b"")])


def without_card(chunks: list[Chunk]) -> bytes:
    """The image alone: what is saved next to the YAML as the avatar."""
    return with_texts(chunks, {})


def _is_card_chunk(chunk: Chunk) -> bool:
    if chunk.kind not in _TEXT_TYPES:
        return False
    key = chunk.data.split(b"\0", 1)[0][:80].decode("latin-1").lower()
    return key in CARD_KEYWORDS or key.startswith("chara-ext-asset_")


def plain_image(size: int = 64, rgb: tuple[int, int, int] = (200, 180, 230)) -> list[Chunk]:
    """A one-colour square, for exporting a card that has no avatar."""
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    row = b"\0" + bytes(rgb) * size
    return [Chunk(b"IHDR", header), Chunk(b"IDAT", zlib.compress(row * size, 9)), Chunk(b"IEND", b"")]
