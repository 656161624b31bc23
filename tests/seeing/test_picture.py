"""Preparing a picture: ≤ 1024 px JPEG without EXIF, a small thumbnail; bombs and non-pictures are
refused with a clear line, before decoding, for well under a second of CPU (measured in a child)."""

from __future__ import annotations

import io
import multiprocessing
import resource

import pytest
from PIL import Image

from anima.errors import ImageError
from anima.seeing.picture import PictureLimits, prepare
from tests.seeing.pictures import (
    gif_junk,
    jpeg_many_markers,
    photo,
    png_bomb,
    png_claiming,
    png_many_chunks,
    sticker,
)


def test_a_photo_comes_out_as_a_small_jpeg_without_its_exif() -> None:
    picture = prepare(photo(4000, 3000))
    out = Image.open(io.BytesIO(picture.jpeg))
    assert out.format == "JPEG" and max(out.size) == 1024
    assert not out.getexif() and b"SecretCam" not in picture.jpeg and b"where-i-live" not in picture.jpeg
    assert (picture.original_width, picture.original_height) == (4000, 3000)


def test_the_orientation_the_exif_asked_for_is_kept() -> None:
    picture = prepare(photo(2000, 1000))  # Orientation 6: shown rotated, so taller than wide
    assert picture.height > picture.width
    out = Image.open(io.BytesIO(picture.jpeg)).convert("RGB")
    assert out.getpixel((out.width // 2, 10))[0] > 150  # red half on top after the rotation
    assert out.getpixel((out.width // 2, out.height - 10))[2] > 150  # blue below


def test_the_thumbnail_is_small() -> None:
    picture = prepare(photo(3000, 2000, exif=False))
    thumb = Image.open(io.BytesIO(picture.thumbnail))
    assert max(thumb.size) == 256 and len(picture.thumbnail) < 20_000


def test_a_small_picture_is_not_enlarged() -> None:
    picture = prepare(photo(400, 300, exif=False))
    assert (picture.width, picture.height) == (400, 300)


def test_transparency_is_laid_on_white() -> None:
    out = Image.open(io.BytesIO(prepare(sticker()).jpeg)).convert("RGB")
    assert out.getpixel((5, 5)) > (240, 240, 240) and out.getpixel((150, 150))[1] > 150


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"%PDF-1.7 not a picture at all", "not a picture I can read"),
        (b"", "empty"),
        (photo(800, 600)[:2000], "damaged"),
        (png_claiming(100_000, 100_000), "too many pixels"),
        (png_bomb(), "too many pixels"),
    ],
    ids=["pdf", "empty", "truncated", "header-bomb", "real-bomb"],
)
def test_what_cannot_be_used_gets_a_clear_line(data: bytes, line: str) -> None:
    with pytest.raises(ImageError, match=line.replace("(", r"\(").replace(")", r"\)")):
        prepare(data)


def test_more_bytes_than_the_cap_are_refused() -> None:
    with pytest.raises(ImageError, match="at most 1,000 are read"):
        prepare(photo(200, 200), PictureLimits(max_bytes=1000))


def _cpu_of_refusing(data: bytes, out: multiprocessing.connection.Connection) -> None:  # type: ignore[name-defined]
    before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        prepare(data)
        out.send(("used", 0.0))
    except ImageError as exc:
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        out.send((str(exc), cpu))


@pytest.mark.parametrize(
    "data",
    [
        png_bomb(),
        png_claiming(100_000, 100_000),
        gif_junk(),
        photo(3000, 3000)[:50_000],
        png_many_chunks(),
        jpeg_many_markers(),
    ],
    ids=["real-bomb", "header-bomb", "junk-gif", "truncated-jpeg", "png-800k-chunks", "jpeg-2m-markers"],
)
def test_refusing_a_hostile_file_costs_under_a_second_of_cpu(data: bytes) -> None:
    ours, theirs = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("spawn").Process(target=_cpu_of_refusing, args=(data, theirs))
    child.start()
    line, cpu = ours.recv()
    child.join()
    assert line != "used", "the hostile file was accepted"
    assert cpu < 1.0, f"refusing it cost {cpu:.2f} s of CPU ({line})"
