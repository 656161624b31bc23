"""A picture someone sent, made safe and small for a model: decoded under caps, EXIF gone, ≤ 1024 px JPEG.

Every check that can refuse a file runs before its pixels are decoded: the byte cap (before it is
read, by the surface's fetch), the format (JPEG, PNG, WebP, GIF only), and width x height from the
header against `max_pixels` (Pillow's own decompression-bomb guard is set to the same bound). A
decompression bomb or a file that is no picture therefore costs a header read, never a decode.
JPEGs are decoded at a reduced scale (`draft`) when they are far larger than the target.

Pillow walks a file's segments (JPEG markers, PNG chunks, GIF blocks) in Python, one at a time: ten
megabytes of empty segments cost it seconds. `_walk` counts them first, jumping by their lengths, and
refuses a file with more than MAX_SEGMENTS, which no camera or editor writes.
"""

from __future__ import annotations

import hashlib
import io
import sys
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from anima.errors import ImageError

if TYPE_CHECKING:  # Pillow loads with the first picture (~3 MB a text-only bot does without)
    from PIL import Image

FORMATS = ("JPEG", "PNG", "WEBP", "GIF")  # what is decoded; anything else is refused by its header
MAX_SEGMENTS = 20_000  # markers, chunks or blocks; a real photo has tens (a large PNG ~1,300 IDATs)
JPEG_QUALITY = 85
THUMBNAIL_QUALITY = 70


@dataclass(frozen=True)
class PictureLimits:
    max_bytes: int = 10_000_000
    max_pixels: int = 40_000_000
    max_side: int = 1024
    thumbnail_side: int = 256


@dataclass(frozen=True)
class Picture:
    """A picture ready for a model: `jpeg` fits `max_side`, carries no metadata; `thumbnail` is what
    is stored with the message; `sha256` names the original bytes (the same picture sent twice)."""

    jpeg: bytes
    thumbnail: bytes
    width: int
    height: int
    original_width: int
    original_height: int
    sha256: str


def prepare(data: bytes, limits: PictureLimits = PictureLimits()) -> Picture:
    """The picture in `data`, or ImageError saying in plain words why it cannot be used. CPU-bound:
    call it off the event loop (`Seeing` does)."""
    if len(data) > limits.max_bytes:
        raise ImageError(f"the picture is {len(data):,} bytes; at most {limits.max_bytes:,} are read")
    if not data:
        raise ImageError("the file is empty")
    _walk(data)
    pillow()
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
        except UnidentifiedImageError as exc:
            raise ImageError("that file is not a picture I can read (JPEG, PNG, WebP or GIF)") from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(_too_many_pixels(limits)) from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageError(DAMAGED) from exc
        with image:
            width, height = image.size
            if width < 1 or height < 1 or width * height > limits.max_pixels:
                raise ImageError(_too_many_pixels(limits, width, height))
            try:
                return _shrink(image, data, limits)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ImageError(_too_many_pixels(limits)) from exc
            except (OSError, ValueError, SyntaxError, EOFError) as exc:
                raise ImageError(DAMAGED) from exc


DAMAGED = "the picture is damaged and cannot be read"


def _walk(data: bytes) -> None:
    """Refuse a JPEG, PNG or GIF whose segments are too many to walk (see the module docstring)."""
    if data[:2] == b"\xff\xd8":
        _walk_jpeg(data)
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        _walk_png(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        _walk_gif(data)


def _step(steps: int) -> int:
    """One more segment walked; a file with more than MAX_SEGMENTS is refused as damaged."""
    if steps >= MAX_SEGMENTS:
        raise ImageError(DAMAGED)
    return steps + 1


def _walk_jpeg(data: bytes) -> None:
    """Markers up to the start of the scan (what Pillow reads before it decodes, in C)."""
    at, steps = 2, 0
    while at + 4 <= len(data):
        steps = _step(steps)
        if data[at] != 0xFF:
            raise ImageError(DAMAGED)
        marker = data[at + 1]
        if marker == 0xFF:  # fill bytes
            at += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            return
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    raise ImageError(DAMAGED)


def _walk_png(data: bytes) -> None:
    at, steps = 8, 0
    while at + 8 <= len(data):
        steps = _step(steps)
        length = int.from_bytes(data[at : at + 4], "big")
        if data[at + 4 : at + 8] == b"IEND":
            return
        at += 12 + length
    # a PNG cut short: Pillow says so when it decodes


def _walk_gif(data: bytes) -> None:
    """Extension blocks up to the first image (only the first frame is decoded)."""
    flags = data[10] if len(data) > 10 else 0
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    steps = 0
    while at < len(data):
        steps = _step(steps)
        if data[at] == 0x2C:  # the first image descriptor
            return
        if data[at] != 0x21:  # neither an image nor an extension
            raise ImageError(DAMAGED)
        at += 2
        while at < len(data) and data[at]:  # the extension's sub-blocks, each led by its length
            steps = _step(steps)
            at += data[at] + 1
        at += 1
    raise ImageError(DAMAGED)


def _shrink(image: Image.Image, data: bytes, limits: PictureLimits) -> Picture:
    from PIL import Image, ImageOps

    original = image.size
    image.seek(0)  # an animated GIF or WebP: its first frame
    if image.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale when that still covers the target
        image.draft("RGB", (limits.max_side, limits.max_side))
    image.load()
    upright = ImageOps.exif_transpose(image)  # the orientation EXIF asked for; the EXIF itself goes
    rgb = _flatten(upright)
    rgb.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS)
    small = rgb.copy()
    small.thumbnail((limits.thumbnail_side, limits.thumbnail_side), Image.Resampling.BILINEAR)
    return Picture(
        jpeg=_jpeg(rgb, JPEG_QUALITY),
        thumbnail=_jpeg(small, THUMBNAIL_QUALITY),
        width=rgb.width,
        height=rgb.height,
        original_width=original[0],
        original_height=original[1],
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with transparency laid on white (a sticker's cut-out reads as the model would see it)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        from PIL import Image

        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True)  # no exif= given: nothing of it is written
    return out.getvalue()


def _too_many_pixels(limits: PictureLimits, width: int = 0, height: int = 0) -> str:
    size = f" ({width:,} x {height:,})" if width and height else ""
    return f"the picture has too many pixels{size}; at most {limits.max_pixels:,} are read"


_max_pixels: list[int] = []  # the bound configure_pillow was given, applied when Pillow loads


def configure_pillow(limits: PictureLimits) -> None:
    """Pillow's own bomb guard at our bound: past it, opening raises (twice it, by default only warns).
    Set now if Pillow is loaded, else when `pillow()` first loads it."""
    _max_pixels[:] = [limits.max_pixels]
    if "PIL.Image" in sys.modules:
        pillow()


def pillow() -> ModuleType:
    """PIL.Image, loaded on first use, with the bomb guard configure_pillow set."""
    from PIL import Image

    if _max_pixels:
        Image.MAX_IMAGE_PIXELS = _max_pixels[0]
    return Image
