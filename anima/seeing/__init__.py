"""Pictures: what people send, prepared for a vision model (`Seeing`), and what characters send."""

from anima.seeing.picture import Picture, PictureLimits, prepare
from anima.seeing.stage import Seeing, apology, is_picture

__all__ = ["Picture", "PictureLimits", "Seeing", "apology", "is_picture", "prepare"]
