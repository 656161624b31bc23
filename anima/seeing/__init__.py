"""Pictures: what people send, prepared for a vision model (`Seeing`), and what characters send."""

from anima.seeing.picture import Picture, PictureLimits, prepare
from anima.seeing.selfie import Made, Selfies, asked_for, prompt_for
from anima.seeing.stage import Seeing, apology, is_picture

__all__ = [
    "Made",
    "Picture",
    "PictureLimits",
    "Seeing",
    "Selfies",
    "apology",
    "asked_for",
    "is_picture",
    "prepare",
    "prompt_for",
]
