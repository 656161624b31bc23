"""Preparing a picture someone sent: CPU and wall time per size, and what refusing hostile files costs.

Run: .venv/bin/python -m bench images_bench
Each picture is a photo-like JPEG (noise over gradients, so it compresses as a camera's would) made
here; "prepare" is anima.seeing.picture.prepare: header checks, decode (JPEG at reduced scale when
larger than needed), EXIF transpose, resize to ≤ 1024 px, JPEG encode and a 256 px thumbnail. Every
row is the median of REPEATS runs in this process; CPU is process time (user + system).
"""

from __future__ import annotations

import io
import statistics
import time

from PIL import Image

from anima.errors import ImageError
from anima.seeing.picture import prepare
from bench import report
from tests.seeing.pictures import gif_junk, jpeg_many_markers, png_bomb, png_claiming, png_many_chunks

COMMAND = ".venv/bin/python -m bench images_bench"
REPEATS = 5
SIZES = [(640, 480), (1280, 960), (2048, 1536), (4032, 3024), (6000, 4000)]


def photo_like(width: int, height: int, fmt: str = "JPEG") -> bytes:
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image = Image.blend(noise, gradient, 0.6)
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue()


def measure(data: bytes) -> tuple[float, float]:
    """Median (CPU s, wall s) of preparing `data` (or refusing it)."""
    cpu, wall = [], []
    for _ in range(REPEATS):
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            prepare(data)
        except ImageError:
            pass
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    print(f"`{COMMAND}` — median of {REPEATS}\n")
    print("| input | bytes | CPU ms | wall ms |")
    print("| --- | ---: | ---: | ---: |")
    rows: list[tuple[str, bytes]] = [(f"JPEG {w}x{h}", photo_like(w, h)) for w, h in SIZES]
    rows.append(("PNG 2048x1536", photo_like(2048, 1536, "PNG")))
    rows += [
        ("bomb: header claims 100,000 x 100,000", png_claiming(100_000, 100_000)),
        ("bomb: real 12,000 x 12,000 PNG", png_bomb()),
        ("GIF signature, then 5 MB of junk", gif_junk()),
        ("PNG with 800,000 empty chunks (10 MB)", png_many_chunks()),
        ("JPEG with 2,400,000 empty markers (10 MB)", jpeg_many_markers()),
    ]
    for name, data in rows:
        cpu, wall = measure(data)
        print(f"| {name} | {len(data):,} | {cpu * 1000:.0f} | {wall * 1000:.0f} |")
        report.record(f"prepare {name} CPU", round(cpu * 1000, 1), "ms", COMMAND)
