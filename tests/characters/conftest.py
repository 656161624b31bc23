"""Fixtures for card tests: a characters/ folder in tmp_path, which is also the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def cards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # messages show paths relative to the working directory
    (tmp_path / "characters").mkdir()
    return tmp_path / "characters"
