"""Pictures for the tests, made here: a photo with EXIF (GPS, camera), a sticker with transparency,
decompression bombs (a header that claims 10^10 pixels, and a real 144-megapixel PNG of 140 KB)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def photo(width: int = 2000, height: int = 1500, exif: bool = True) -> bytes:
    """A JPEG with a red left half and a blue right half, and EXIF naming a camera and a place."""
    image = Image.new("RGB", (width, height), (220, 30, 30))
    image.paste((30, 30, 220), (width // 2, 0, width, height))
    out = io.BytesIO()
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "SecretCam"  # Make
        tags[0x0131] = "where-i-live 52.52N 13.40E"  # Software (stands in for GPS here)
        tags[0x0112] = 6  # Orientation: rotate 90° to show upright
        image.save(out, "JPEG", exif=tags.tobytes(), quality=90)
    else:
        image.save(out, "JPEG", quality=90)
    return out.getvalue()


def sticker() -> bytes:
    """A PNG with a transparent background and an opaque green square."""
    image = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    image.paste((0, 200, 0, 255), (100, 100, 200, 200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` (8-bit grey) and whose data is a few bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def png_bomb(side: int = 12_000) -> bytes:
    """A real, valid PNG of side x side black pixels: 144 MB decoded, ~140 KB on the wire."""
    row = b"\x00" * (side + 1)  # filter byte, then the pixels
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def png_many_chunks(chunks: int = 800_000) -> bytes:
    """A 100 x 100 PNG with `chunks` empty ancillary chunks before its data (~10 MB)."""
    header = struct.pack(">IIBBBBB", 100, 100, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (101 * 100))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"abCd", b"") * chunks
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def jpeg_many_markers(markers: int = 2_400_000) -> bytes:
    """A JPEG start followed by `markers` empty APP5 segments (~10 MB)."""
    return b"\xff\xd8" + b"\xff\xe5\x00\x02" * markers + b"\xff\xd9"


def gif_junk(size: int = 5_000_000) -> bytes:
    """A GIF signature followed by bytes that are no GIF blocks."""
    return b"GIF89a" + b"\xff" * size
