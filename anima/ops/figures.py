"""A headline figure an evaluation measures: `anima bench` prints it, bench/ records it in RESULTS.md."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float | int | str
    unit: str
    command: str  # what reproduces it

    def shown(self) -> str:
        value = self.value
        if isinstance(value, float):  # three significant digits, no exponent
            digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3
            value = f"{value:.{digits}f}"
        return f"{value} {self.unit}".strip()
